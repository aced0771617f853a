package weather

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Metrics count what the caches ask their providers. One Metrics serves every cache on
// a registry.
type Metrics struct {
	fetches *prometheus.CounterVec
}

// NewMetrics registers sender_weather_fetches_total{provider,result} (result "ok" or
// "error") on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sender_weather_fetches_total",
		Help: "Requests to the weather provider, by provider and result (ok, error).",
	}, []string{"provider", "result"})}
	if err := reg.Register(m.fetches); err != nil {
		return nil, err
	}
	return m, nil
}

// CacheOptions tune a Cache; the zero value takes every default.
type CacheOptions struct {
	// TTL is how long a report is used before the provider is asked again (default 5m).
	TTL time.Duration
	// MaxAge is how long the last good report still stands in while the provider
	// fails (default 1h); older than that, Current reports no weather.
	MaxAge time.Duration
	// RetryAfter is how long to wait after a failed request before the next one
	// (default the smaller of TTL and 30s), so a failing provider is not asked per batch.
	RetryAfter time.Duration
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// Logger gets a warning per failed request (default: discard).
	Logger *slog.Logger
	// Metrics counts requests (default: not counted).
	Metrics *Metrics
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

func (o *CacheOptions) defaults() {
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = time.Hour
	}
	if o.MaxAge < o.TTL {
		o.MaxAge = o.TTL
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = min(o.TTL, 30*time.Second)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Cache holds the weather at one location and asks its provider at most once per
// TTL (once per RetryAfter while it fails), however many callers ask: concurrent
// misses share one request. A caller that already has a report (fresh or up to
// MaxAge old) never waits for a request: the refresh runs in the background.
//
// Cache is safe for concurrent use. Close stops a request in flight and waits for it.
type Cache struct {
	p    Provider
	loc  Location
	o    CacheOptions
	sf   singleflight.Group
	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	last     Weather
	lastAt   time.Time // when last was fetched; zero = never
	failedAt time.Time // when the latest request failed; zero after a success
	closed   bool
}

// NewCache returns a cache of the weather at loc from p.
func NewCache(p Provider, loc Location, o CacheOptions) *Cache {
	o.defaults()
	if o.Metrics != nil { // show both series from the start, at zero
		o.Metrics.fetches.WithLabelValues(p.Name(), "ok")
		o.Metrics.fetches.WithLabelValues(p.Name(), "error")
	}
	base, stop := context.WithCancel(context.Background())
	return &Cache{p: p, loc: loc, o: o, base: base, stop: stop}
}

// errClosed ends requests after Close.
var errClosed = errors.New("weather cache closed")

// Current returns the weather, and false when none is known: never asked yet and the
// request failed or ctx ended first, or the last good report is older than MaxAge.
func (c *Cache) Current(ctx context.Context) (Weather, bool) {
	now := c.o.Now()
	c.mu.Lock()
	have := !c.lastAt.IsZero()
	if have && now.Sub(c.lastAt) < c.o.TTL {
		w := c.last
		c.mu.Unlock()
		return w, true
	}
	stale, staleOK := c.last, have && now.Sub(c.lastAt) < c.o.MaxAge
	due := !c.closed && (c.failedAt.IsZero() || now.Sub(c.failedAt) >= c.o.RetryAfter)
	c.mu.Unlock()
	if !due {
		return stale, staleOK
	}
	ch := c.sf.DoChan("current", c.fetch)
	if staleOK {
		return stale, true // the refresh finishes in the background
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return Weather{}, false
		}
		return r.Val.(Weather), true
	case <-ctx.Done():
		return Weather{}, false
	}
}

// fetch asks the provider unless a report or a failure arrived since the caller
// looked (a request that just finished must not be repeated).
func (c *Cache) fetch() (any, error) {
	c.mu.Lock()
	now := c.o.Now()
	if !c.lastAt.IsZero() && now.Sub(c.lastAt) < c.o.TTL {
		w := c.last
		c.mu.Unlock()
		return w, nil
	}
	if !c.failedAt.IsZero() && now.Sub(c.failedAt) < c.o.RetryAfter {
		c.mu.Unlock()
		return nil, errors.New("weather provider failed recently")
	}
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	c.wg.Add(1) // under mu and before closed: Close's Wait cannot race it
	c.mu.Unlock()
	defer c.wg.Done()

	ctx, cancel := context.WithTimeout(c.base, c.o.Timeout)
	w, err := c.p.Current(ctx, c.loc)
	cancel()

	c.mu.Lock()
	if err != nil {
		c.failedAt = c.o.Now()
	} else {
		c.last, c.lastAt, c.failedAt = w, c.o.Now(), time.Time{}
	}
	c.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
		c.o.Logger.Warn("weather request failed", "provider", c.p.Name(), "err", err)
	}
	if c.o.Metrics != nil {
		c.o.Metrics.fetches.WithLabelValues(c.p.Name(), result).Inc()
	}
	return w, err
}

// Close cancels a request in flight and waits for it; Current then answers from what
// is cached.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
}

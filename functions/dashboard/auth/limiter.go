package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter bounds login attempts per key (the client's address, and the user name
// tried), so that guessing passwords is slow from one place and against one user
// from many. It is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	every   time.Duration
	burst   int
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxKeys bounds the keys kept; past it, idle keys are dropped first.
const maxKeys = 10000

// NewLimiter allows burst attempts per key at once, then one per every.
func NewLimiter(burst int, every time.Duration) *Limiter {
	return &Limiter{every: every, burst: burst, buckets: map[string]*bucket{}, now: time.Now}
}

// Allow takes one attempt from each key. If any key has none left, it takes none and
// says how long to wait.
func (l *Limiter) Allow(keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) > maxKeys {
		l.sweep(now)
	}
	var rs []*rate.Reservation
	var wait time.Duration
	for _, k := range keys {
		b, ok := l.buckets[k]
		if !ok {
			b = &bucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
			l.buckets[k] = b
		}
		b.seen = now
		r := b.lim.ReserveN(now, 1)
		rs = append(rs, r)
		wait = max(wait, r.DelayFrom(now))
	}
	if wait > 0 {
		for _, r := range rs {
			r.CancelAt(now)
		}
		return false, wait
	}
	return true, 0
}

// sweep drops keys idle long enough to have refilled.
func (l *Limiter) sweep(now time.Time) {
	full := l.every * time.Duration(l.burst)
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
}

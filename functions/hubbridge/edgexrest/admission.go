package edgexrest

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the admission of events.
const (
	// DefaultMaxInFlight bounds the events being handled at once, which bounds the
	// hub's memory. It is well above a site's devices, each of which has one event in
	// flight at a time: the group commit stores more events per MongoDB write the
	// more wait for it, and at 10,000 devices a bound of 256 cut what the hub
	// acknowledged by more than half, its CPU going to posts it refused.
	DefaultMaxInFlight = 16384
	// DefaultAdmitWait is how long an event waits for a free slot before it is
	// refused with 503 and Retry-After.
	DefaultAdmitWait = 100 * time.Millisecond
	// DefaultStoreTimeout bounds looking up the device and storing one event; past
	// it the event is answered 503 with Retry-After (a retry is idempotent: the
	// outbox deduplicates by reading id).
	DefaultStoreTimeout = 5 * time.Second
	// DefaultRetryAfter is the least Retry-After of a refused event; each answer
	// says a whole number of seconds from it to twice it, so refused devices do not
	// all come back in the same second.
	DefaultRetryAfter = time.Second
)

// answerOverloaded is the reason of a 503 that sheds load: the hub had no slot for
// the event (or could not store it in time) and says when to come back.
const answerOverloaded = "overloaded"

// admission bounds the events in flight. An event that finds no slot within wait is
// refused at once, before it touches MongoDB, so an overload turns into quick 503s
// with Retry-After instead of timeouts.
type admission struct {
	slots      chan struct{}
	wait       time.Duration
	retryAfter time.Duration
	inFlight   prometheus.Gauge
}

func newAdmission(max int, wait, retryAfter time.Duration) *admission {
	return &admission{
		slots: make(chan struct{}, max), wait: wait, retryAfter: retryAfter,
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hub_events_in_flight",
			Help: "Events being handled by the EdgeX REST ingest; at hub_events_max_in_flight further events are refused with 503 and Retry-After.",
		}),
	}
}

// admit takes a slot, waiting up to a.wait; release gives it back. ok is false when
// there was none (or the request ended first).
func (a *admission) admit(ctx context.Context) (release func(), ok bool) {
	release = func() {
		<-a.slots
		a.inFlight.Dec()
	}
	select {
	case a.slots <- struct{}{}:
		a.inFlight.Inc()
		return release, true
	default:
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		a.inFlight.Inc()
		return release, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// setRetryAfter tells the client when to come back: a whole number of seconds in
// [retryAfter, 2 retryAfter], at least 1.
func (a *admission) setRetryAfter(w http.ResponseWriter) {
	base := max(int(a.retryAfter/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(base+rand.IntN(base+1)))
}

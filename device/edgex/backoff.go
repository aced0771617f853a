package edgex

import (
	"math/rand/v2"
	"time"
)

// Backoff is a device's wait between failed deliveries: Min after the first failure,
// doubling up to Max, each wait spread by a fifth either way so that a fleet does not
// come back in step when the hub does, and never shorter than the Retry-After the hub
// asked for, since coming back sooner only keeps a shedding hub overloaded. Set Min
// and Max; one Backoff per sender, not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration // the unspread wait of the next failure; 0: Min
}

// Failed returns how long to wait after one more failed delivery, given the hub's
// Retry-After (0 if it gave none).
func (b *Backoff) Failed(retryAfter time.Duration) time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	wait := max(spread(b.next), retryAfter)
	b.next = min(2*b.next, b.Max)
	return wait
}

// Delivered starts the wait after the next failure at Min again.
func (b *Backoff) Delivered() { b.next = 0 }

// spread returns d moved by up to a fifth either way, at random.
func spread(d time.Duration) time.Duration {
	return d - d/5 + rand.N(2*(d/5)+1)
}

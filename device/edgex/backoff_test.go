package edgex

import (
	"testing"
	"time"
)

// Each failure doubles the wait up to Max, spread by a fifth; Retry-After is the
// least wait; a delivery starts again at Min.
func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second}
	steps := []struct {
		retryAfter time.Duration
		delivered  bool // Delivered before this failure
		base       time.Duration
		least      time.Duration // Retry-After above the spread wins
	}{
		{0, false, time.Second, 0},
		{0, false, 2 * time.Second, 0},
		{0, false, 4 * time.Second, 0},
		{time.Minute, false, 8 * time.Second, time.Minute},
		{0, false, 8 * time.Second, 0}, // capped at Max
		{0, true, time.Second, 0},
		{500 * time.Millisecond, false, 2 * time.Second, 0}, // a shorter Retry-After changes nothing
	}
	for i, s := range steps {
		if s.delivered {
			b.Delivered()
		}
		got := b.Failed(s.retryAfter)
		lo, hi := s.base-s.base/5, s.base+s.base/5
		if s.least > 0 {
			lo, hi = s.least, s.least
		}
		if got < lo || got > hi {
			t.Errorf("failure %d: wait %s, want within %s..%s", i+1, got, lo, hi)
		}
	}
}

// The spread covers both sides of the base wait, so that a fleet does not return in step.
func TestBackoffSpreads(t *testing.T) {
	var below, above bool
	for range 200 {
		b := Backoff{Min: time.Second, Max: time.Second}
		w := b.Failed(0)
		below, above = below || w < time.Second, above || w > time.Second
	}
	if !below || !above {
		t.Fatalf("200 waits of a 1 s back-off: some below %v, some above %v; want both", below, above)
	}
}

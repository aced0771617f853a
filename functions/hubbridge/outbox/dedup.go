package outbox

import "time"

// dedup remembers the ids of stored readings, oldest forgotten first, bounded by count
// and (if maxAge > 0) by age. Not safe for concurrent use: the writer goroutine owns it.
type dedup struct {
	max    int
	maxAge time.Duration
	ids    map[string]struct{}
	ring   []dedupEntry // insertion order; head is the oldest
	head   int
}

type dedupEntry struct {
	id string
	at time.Time
}

func newDedup(max int, maxAge time.Duration) dedup {
	return dedup{max: max, maxAge: maxAge, ids: make(map[string]struct{})}
}

func (d *dedup) has(id string) bool {
	_, ok := d.ids[id]
	return ok
}

// add remembers id, stored at now, and forgets what is too old or too many.
func (d *dedup) add(id string, now time.Time) {
	if _, ok := d.ids[id]; ok {
		return
	}
	d.ids[id] = struct{}{}
	d.ring = append(d.ring, dedupEntry{id: id, at: now})
	for len(d.ring)-d.head > d.max || (d.maxAge > 0 && now.Sub(d.ring[d.head].at) > d.maxAge) {
		delete(d.ids, d.ring[d.head].id)
		d.ring[d.head] = dedupEntry{}
		d.head++
	}
	// Compact once the forgotten prefix is half the slice, so memory stays bounded.
	if d.head > 1024 && d.head*2 >= len(d.ring) {
		d.ring = append(d.ring[:0:0], d.ring[d.head:]...)
		d.head = 0
	}
}

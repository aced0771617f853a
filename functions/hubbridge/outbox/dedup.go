package outbox

import (
	"time"

	"github.com/google/uuid"
)

// dedup remembers the ids of stored readings, oldest forgotten first, bounded by count
// and (if maxAge > 0) by age. Not safe for concurrent use: the writer goroutine owns it.
//
// An id in the canonical UUID form (36 lowercase characters, as EdgeX makes them) is
// kept as its 16 bytes: a heap profile of the hub at 10,000 devices had the id
// strings and their map at 24 MB of its 50 MB live heap. Any other id is kept as it
// is; the two forms cannot meet, since a canonical string has exactly one UUID.
type dedup struct {
	max    int
	maxAge time.Duration
	uuids  map[uuid.UUID]struct{}
	others map[string]struct{}
	ring   []dedupEntry // insertion order; head is the oldest
	head   int
}

type dedupEntry struct {
	other string    // the id when it is not a canonical UUID
	id    uuid.UUID // else the id
	at    int64     // unix nanoseconds
}

func newDedup(max int, maxAge time.Duration) dedup {
	return dedup{max: max, maxAge: maxAge, uuids: make(map[uuid.UUID]struct{}), others: make(map[string]struct{})}
}

// canonical returns id's UUID when id is in canonical form: lowercase hex digits in
// groups of 8-4-4-4-12, the one spelling uuid.Parse reads that String gives back.
// Checked here so that a reading costs no string for the comparison.
func canonical(id string) (uuid.UUID, bool) {
	if len(id) != 36 {
		return uuid.UUID{}, false
	}
	for i := range len(id) {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return uuid.UUID{}, false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return uuid.UUID{}, false
			}
		}
	}
	u, err := uuid.Parse(id)
	return u, err == nil
}

func (d *dedup) has(id string) bool {
	if u, ok := canonical(id); ok {
		_, seen := d.uuids[u]
		return seen
	}
	_, seen := d.others[id]
	return seen
}

// add remembers id, stored at now, and forgets what is too old or too many.
func (d *dedup) add(id string, now time.Time) {
	e := dedupEntry{at: now.UnixNano()}
	if u, ok := canonical(id); ok {
		if _, seen := d.uuids[u]; seen {
			return
		}
		d.uuids[u], e.id = struct{}{}, u
	} else {
		if _, seen := d.others[id]; seen {
			return
		}
		d.others[id], e.other = struct{}{}, id
	}
	d.ring = append(d.ring, e)
	for len(d.ring)-d.head > d.max || (d.maxAge > 0 && e.at-d.ring[d.head].at > int64(d.maxAge)) {
		d.forget(d.ring[d.head])
		d.ring[d.head] = dedupEntry{}
		d.head++
	}
	// Compact once the forgotten prefix is half the slice, so memory stays bounded.
	if d.head > 1024 && d.head*2 >= len(d.ring) {
		d.ring = append(d.ring[:0:0], d.ring[d.head:]...)
		d.head = 0
	}
}

func (d *dedup) forget(e dedupEntry) {
	if e.other != "" {
		delete(d.others, e.other)
	} else {
		delete(d.uuids, e.id)
	}
}

// len is the number of ids remembered.
func (d *dedup) len() int { return len(d.uuids) + len(d.others) }

package outbox

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := newDedup(3, time.Minute)
	for i := range 5 {
		d.add(fmt.Sprint(i), t0)
	}
	// Bounded by count: the oldest two are forgotten.
	for i, want := range []bool{false, false, true, true, true} {
		if got := d.has(fmt.Sprint(i)); got != want {
			t.Errorf("has(%d) = %v, want %v", i, got, want)
		}
	}
	// Bounded by age: adding one a minute and a bit later forgets the rest.
	d.add("late", t0.Add(61*time.Second))
	for _, id := range []string{"2", "3", "4"} {
		if d.has(id) {
			t.Errorf("%s remembered past the age limit", id)
		}
	}
	if !d.has("late") {
		t.Error("newest id forgotten")
	}
	// Memory stays bounded over many adds.
	big := newDedup(10, 0)
	for i := range 100_000 {
		big.add(fmt.Sprint(i), t0)
	}
	if big.len() != 10 || len(big.ring)-big.head != 10 || cap(big.ring) > 10_000 {
		t.Errorf("after many adds: %d ids, ring len %d cap %d head %d", big.len(), len(big.ring), cap(big.ring), big.head)
	}
}

// UUID ids and other ids are remembered and forgotten alike, and only the exact id is
// a duplicate: the same UUID in upper case, braces or without dashes is another id.
func TestDedupUUIDs(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const id = "0b8c3f4e-5d1a-4c2b-9e8f-7a6b5c4d3e2f"
	d := newDedup(4, 0)
	d.add(id, t0)
	d.add("dev-1-42", t0)
	for _, c := range []struct {
		id   string
		want bool
	}{
		{id, true},
		{"dev-1-42", true},
		{strings.ToUpper(id), false},
		{"{" + id + "}", false},
		{"urn:uuid:" + id, false},
		{strings.ReplaceAll(id, "-", ""), false},
		{"0b8c3f4e-5d1a-4c2b-9e8f-7a6b5c4d3e2e", false},
		{"", false},
	} {
		if got := d.has(c.id); got != c.want {
			t.Errorf("has(%q) = %v, want %v", c.id, got, c.want)
		}
	}
	if d.len() != 2 || len(d.uuids) != 1 || len(d.others) != 1 {
		t.Fatalf("%d ids (%d as UUIDs, %d as strings), want 2: one of each", d.len(), len(d.uuids), len(d.others))
	}
	d.add(strings.ToUpper(id), t0) // another id: kept as a string
	for i := range 4 {
		d.add(fmt.Sprintf("other-%d", i), t0)
	}
	if d.has(id) || d.has("dev-1-42") || d.len() != 4 {
		t.Errorf("after 4 more ids: has(uuid) %v, has(string) %v, %d ids; want both forgotten, 4 kept", d.has(id), d.has("dev-1-42"), d.len())
	}
}

// FuzzDedup: whatever the ids, an id just added is remembered, an id never added is
// not, and the count stays within the bound.
func FuzzDedup(f *testing.F) {
	f.Add("0b8c3f4e-5d1a-4c2b-9e8f-7a6b5c4d3e2f", "0B8C3F4E-5D1A-4C2B-9E8F-7A6B5C4D3E2F")
	f.Add("a", "b")
	f.Fuzz(func(t *testing.T, a, b string) {
		if u, ok := canonical(a); ok && u.String() != a {
			t.Fatalf("canonical(%q) = %s: not the same id", a, u)
		}
		d := newDedup(2, 0)
		d.add(a, time.Unix(0, 0))
		if !d.has(a) {
			t.Fatalf("%q added, not remembered", a)
		}
		if a != b && d.has(b) {
			t.Fatalf("%q remembered, never added (only %q was)", b, a)
		}
		d.add(b, time.Unix(0, 0))
		if !d.has(a) || !d.has(b) || d.len() != map[bool]int{true: 1, false: 2}[a == b] {
			t.Fatalf("after %q and %q: has %v %v, %d ids", a, b, d.has(a), d.has(b), d.len())
		}
	})
}

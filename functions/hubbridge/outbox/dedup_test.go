package outbox

import (
	"fmt"
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
	if len(big.ids) != 10 || len(big.ring)-big.head != 10 || cap(big.ring) > 10_000 {
		t.Errorf("after many adds: %d ids, ring len %d cap %d head %d", len(big.ids), len(big.ring), cap(big.ring), big.head)
	}
}

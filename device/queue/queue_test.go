package queue

import (
	"errors"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string, max int) *Queue {
	t.Helper()
	q, err := Open(path, Options{Max: max, Device: "pi-1", Location: "sector-1"})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func items(n int) []Item {
	var it []Item
	for i := range n {
		it = append(it, Item{Resource: "temperature", Value: float64(20 + i), Unit: "C"})
	}
	return it
}

func stats(t *testing.T, q *Queue) Stats {
	t.Helper()
	s, err := q.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAppendPeekRemoveInOrder(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q.db"), 100)
	defer q.Close()
	now := time.Unix(1700000000, 0)
	for range 3 {
		if _, _, err := q.Append("room", now, items(2)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := q.Peek(10)
	if err != nil || len(recs) != 3 {
		t.Fatalf("Peek = %d records, %v", len(recs), err)
	}
	var seq uint64
	ids := map[string]bool{}
	for _, r := range recs {
		if r.Key != seq+1 || r.Source != "room" || r.Origin != now.UnixNano() {
			t.Fatalf("record %+v: want key %d", r, seq+1)
		}
		for _, rd := range r.Readings {
			seq++
			if rd.Seq != seq || rd.Device != "pi-1" || rd.Location != "sector-1" || rd.Validate() != nil || ids[rd.ID] {
				t.Fatalf("reading %+v: want seq %d, a unique id and a valid contract reading", rd, seq)
			}
			ids[rd.ID] = true
		}
	}
	if err := q.Remove(recs[0].Key); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(recs[0].Key); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	if s := stats(t, q); s.Records != 2 || s.Readings != 4 || s.LastSeq != 6 {
		t.Errorf("stats %+v", s)
	}
	next, _ := q.Peek(1)
	if len(next) != 1 || next[0].Key != 3 || next[0].ID != recs[1].ID {
		t.Errorf("after removing the first, Peek = %+v", next)
	}
}

// TestSurvivesRestart: records, their ids and the sequence outlive the process.
func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q := open(t, path, 100)
	rec, _, err := q.Append("room", time.Now(), items(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.SetFloat("setpoint", 21); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, path, 100)
	defer q.Close()
	recs, err := q.Peek(5)
	if err != nil || len(recs) != 1 || recs[0].ID != rec.ID || recs[0].Readings[2].ID != rec.Readings[2].ID {
		t.Fatalf("after reopening: %+v, %v; want the same record and ids", recs, err)
	}
	next, _, err := q.Append("room", time.Now(), items(1))
	if err != nil || next.Readings[0].Seq != 4 {
		t.Fatalf("sequence after reopening: %+v, %v; want 4", next, err)
	}
	if v, ok, err := q.Float("setpoint"); v != 21 || !ok || err != nil {
		t.Errorf("Float = %v %v %v", v, ok, err)
	}
	if _, ok, _ := q.Float("other"); ok {
		t.Error("Float of an unsaved name is ok")
	}
}

func TestBoundDropsOldestAndCounts(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q.db"), 10)
	defer q.Close()
	// 3 records (9 readings) fit; the 4th needs room: the 1st goes.
	for i, want := range []int{0, 0, 0, 3} {
		if _, d, err := q.Append("room", time.Now(), items(3)); err != nil || d != want {
			t.Fatalf("Append %d: dropped %d, %v; want %d dropped", i+1, d, err, want)
		}
	}
	s := stats(t, q)
	if s.Readings != 9 || s.Records != 3 || s.Dropped != 3 {
		t.Fatalf("stats %+v, want 9 readings in 3 records and 3 dropped", s)
	}
	recs, _ := q.Peek(10)
	if recs[0].Key != 4 {
		t.Errorf("oldest kept starts at seq %d, want 4", recs[0].Key)
	}
	if _, _, err := q.Append("room", time.Now(), items(11)); err == nil {
		t.Error("a record larger than the bound was accepted")
	}
}

func TestRejectsInvalidReadings(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q.db"), 10)
	defer q.Close()
	if _, _, err := q.Append("room", time.Now(), []Item{{Resource: "temperature", Value: math.NaN()}}); err == nil {
		t.Error("NaN queued")
	}
	if _, _, err := q.Append("room", time.Now(), nil); err == nil {
		t.Error("empty record queued")
	}
	if s := stats(t, q); s.LastSeq != 0 || s.Records != 0 {
		t.Errorf("a failed append left traces: %+v", s)
	}
}

func TestCorruptRecordIsRemovedAndCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q := open(t, path, 100)
	if _, _, err := q.Append("room", time.Now(), items(2)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Append("room", time.Now(), items(2)); err != nil {
		t.Fatal(err)
	}
	q.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRecords).Put(be(1), []byte("{garbage")) })
	db.Close()
	q = open(t, path, 100)
	defer q.Close()
	recs, err := q.Peek(10)
	if err != nil || len(recs) != 1 || recs[0].Key != 3 {
		t.Fatalf("Peek = %+v, %v; want only the intact record", recs, err)
	}
	if s := stats(t, q); s.Corrupt != 1 || s.Records != 1 || s.Readings != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q := open(t, path, 10)
	defer q.Close()
	if _, err := Open(path, Options{Max: 10, Device: "pi-1"}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open = %v, want ErrInUse", err)
	}
}

// TestConcurrentAppendAndDrain: a sampler and a sender at once lose and double
// nothing.
func TestConcurrentAppendAndDrain(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q.db"), 100000)
	defer q.Close()
	const n = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			if _, _, err := q.Append("room", time.Now(), items(2)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got []uint64
	for len(got) < 2*n {
		recs, err := q.Peek(7)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			for _, rd := range r.Readings {
				got = append(got, rd.Seq)
			}
			if err := q.Remove(r.Key); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("drained seq %d at position %d", s, i)
		}
	}
	if s := stats(t, q); s.Readings != 0 || s.Records != 0 {
		t.Errorf("stats after draining: %+v", s)
	}
}

func BenchmarkAppendRemove(b *testing.B) {
	q, err := Open(filepath.Join(b.TempDir(), "q.db"), Options{Max: 1000, Device: "pi"})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	it := items(6)
	for b.Loop() {
		rec, _, err := q.Append("room", time.Now(), it)
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Remove(rec.Key); err != nil {
			b.Fatal(err)
		}
	}
}

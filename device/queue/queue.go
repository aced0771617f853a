// Package queue is the firmware's durable, bounded queue of readings, kept in a bbolt
// file so that neither a network outage nor a power cut loses a reading.
//
// A reading enters the queue (and gets its per-device sequence number and its id)
// in one committed, fsynced transaction before any network call is made; it leaves
// only when the caller removes it after the hub acknowledged it. Readings are kept
// in records, one per event the firmware posts, keyed by the sequence number of
// their first reading, so the queue drains in order. The queue is bounded in
// readings: appending beyond the bound drops the oldest records first and counts the
// readings dropped, in the file, so the count survives restarts too.
package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/smartx-team/overcloud/functions/reading"
)

var (
	bucketRecords = []byte("records")
	bucketMeta    = []byte("meta")
	bucketState   = []byte("state")

	keySeq     = []byte("seq")     // last sequence number given out
	keyCount   = []byte("count")   // readings in records
	keyRecords = []byte("records") // records
	keyDropped = []byte("dropped") // readings dropped to respect the bound
	keyCorrupt = []byte("corrupt") // records that no longer decoded, removed
)

// Item is one value to queue; the queue makes it a reading.
type Item struct {
	Resource string
	Value    float64
	Unit     string
}

// Record is one queued event: readings of one source taken at one time.
type Record struct {
	Key      uint64            `json:"-"`      // the Seq of the first reading; queue order
	ID       string            `json:"id"`     // event id (UUID), the same on every retry
	Source   string            `json:"source"` // EdgeX source name
	Origin   int64             `json:"origin"` // ns since the epoch
	Readings []reading.Reading `json:"readings"`
}

// Options configure a Queue.
type Options struct {
	// Max is the most readings kept (required, >= 1).
	Max int
	// Device and Location are stamped on every reading. Device is required.
	Device, Location string
}

// Stats describe the queue's content and history.
type Stats struct {
	Records, Readings int    // waiting for the hub
	LastSeq           uint64 // last sequence number given out (0: none yet)
	Dropped           uint64 // readings dropped to respect Max, ever
	Corrupt           uint64 // records removed because they no longer decoded, ever
}

// Queue is safe for concurrent use: bbolt serialises writers. Close it once.
type Queue struct {
	db *bolt.DB
	o  Options
}

// ErrInUse is returned by Open when another process holds the file.
var ErrInUse = errors.New("queue file is in use by another process")

// Open opens (creating as needed) the queue file at path.
func Open(path string, o Options) (*Queue, error) {
	if o.Max < 1 {
		return nil, fmt.Errorf("queue: Max %d must be at least 1", o.Max)
	}
	if o.Device == "" {
		return nil, errors.New("queue: Device is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("queue %s: %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("queue %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketMeta, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("queue %s: %w", path, err)
	}
	return &Queue{db: db, o: o}, nil
}

// Close closes the file.
func (q *Queue) Close() error { return q.db.Close() }

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func be(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// Append makes items readings of one record, each with the next sequence number and
// a new id, and commits it to disk. If the queue would hold more than Max readings,
// the oldest records are dropped first; dropped says how many readings that was.
func (q *Queue) Append(source string, origin time.Time, items []Item) (rec Record, dropped int, err error) {
	if len(items) == 0 {
		return rec, 0, errors.New("queue: nothing to append")
	}
	if len(items) > q.o.Max {
		return rec, 0, fmt.Errorf("queue: %d readings exceed the bound of %d", len(items), q.o.Max)
	}
	rec = Record{ID: uuid.NewString(), Source: source, Origin: origin.UnixNano()}
	err = q.db.Update(func(tx *bolt.Tx) error {
		meta, recs := tx.Bucket(bucketMeta), tx.Bucket(bucketRecords)
		seq := u64(meta.Get(keySeq))
		rec.Key = seq + 1
		rec.Readings = make([]reading.Reading, 0, len(items))
		for _, it := range items {
			seq++
			r := reading.Reading{
				ID: uuid.NewString(), Device: q.o.Device, Resource: it.Resource, Value: it.Value,
				Unit: it.Unit, Origin: rec.Origin, Seq: seq, Location: q.o.Location,
			}
			if err := r.Validate(); err != nil {
				return err
			}
			rec.Readings = append(rec.Readings, r)
		}
		count, nrec := u64(meta.Get(keyCount)), u64(meta.Get(keyRecords))
		c := recs.Cursor()
		for k, _ := c.First(); k != nil && count+uint64(len(items)) > uint64(q.o.Max); k, _ = c.First() {
			n := span(tx, k)
			if err := recs.Delete(k); err != nil {
				return err
			}
			count -= min(count, n)
			nrec -= min(nrec, 1)
			dropped += int(n)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := recs.Put(be(rec.Key), b); err != nil {
			return err
		}
		return putAll(meta, keySeq, seq, keyCount, count+uint64(len(items)), keyRecords, nrec+1,
			keyDropped, u64(meta.Get(keyDropped))+uint64(dropped))
	})
	if err != nil {
		return Record{}, 0, fmt.Errorf("queue append: %w", err)
	}
	return rec, dropped, nil
}

func putAll(b *bolt.Bucket, kv ...any) error {
	for i := 0; i < len(kv); i += 2 {
		if err := b.Put(kv[i].([]byte), be(kv[i+1].(uint64))); err != nil {
			return err
		}
	}
	return nil
}

// span is how many readings the record at key k holds: records hold consecutive
// sequence numbers, so it reaches up to the next record's key (or past the last
// sequence number given out). It needs no decoding, so it also counts what a damaged
// record held.
func span(tx *bolt.Tx, k []byte) uint64 {
	c := tx.Bucket(bucketRecords).Cursor()
	end := u64(tx.Bucket(bucketMeta).Get(keySeq)) + 1
	if ck, _ := c.Seek(k); ck != nil && string(ck) == string(k) {
		if nk, _ := c.Next(); nk != nil {
			end = u64(nk)
		}
	}
	if start := u64(k); end > start {
		return end - start
	}
	return 1
}

// Peek returns up to n records, oldest first, leaving them queued. A record that no
// longer decodes (a damaged file) is removed and counted in Stats.Corrupt rather than
// blocking the queue for ever.
func (q *Queue) Peek(n int) ([]Record, error) {
	var out []Record
	var bad [][]byte
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil || len(r.Readings) == 0 || len(k) != 8 {
				bad = append(bad, append([]byte(nil), k...))
				continue
			}
			r.Key = u64(k)
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue peek: %w", err)
	}
	if len(bad) > 0 {
		err := q.db.Update(func(tx *bolt.Tx) error {
			recs, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketMeta)
			count, nrec := u64(meta.Get(keyCount)), u64(meta.Get(keyRecords))
			for _, k := range bad {
				if v := recs.Get(k); v != nil {
					count -= min(count, span(tx, k))
					nrec -= min(nrec, 1)
					if err := recs.Delete(k); err != nil {
						return err
					}
				}
			}
			return putAll(meta, keyCount, count, keyRecords, nrec, keyCorrupt, u64(meta.Get(keyCorrupt))+uint64(len(bad)))
		})
		if err != nil {
			return nil, fmt.Errorf("queue peek: remove corrupt records: %w", err)
		}
	}
	return out, nil
}

// Remove deletes the record with key, once the hub acknowledged it. A record that is
// no longer there (dropped meanwhile to respect the bound) is not an error.
func (q *Queue) Remove(key uint64) error {
	err := q.db.Update(func(tx *bolt.Tx) error {
		recs, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketMeta)
		v := recs.Get(be(key))
		if v == nil {
			return nil
		}
		count, nrec := u64(meta.Get(keyCount)), u64(meta.Get(keyRecords))
		count -= min(count, span(tx, be(key)))
		if err := recs.Delete(be(key)); err != nil {
			return err
		}
		return putAll(meta, keyCount, count, keyRecords, nrec-min(nrec, 1))
	})
	if err != nil {
		return fmt.Errorf("queue remove: %w", err)
	}
	return nil
}

// Stats reads the counters.
func (q *Queue) Stats() (Stats, error) {
	var s Stats
	err := q.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		s.Records = int(u64(meta.Get(keyRecords)))
		s.Readings = int(u64(meta.Get(keyCount)))
		s.LastSeq = u64(meta.Get(keySeq))
		s.Dropped = u64(meta.Get(keyDropped))
		s.Corrupt = u64(meta.Get(keyCorrupt))
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("queue stats: %w", err)
	}
	return s, nil
}

// Float returns a remembered value (such as the last set-point applied); ok is false
// if none was saved.
func (q *Queue) Float(name string) (v float64, ok bool, err error) {
	err = q.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState).Get([]byte(name))
		if len(b) == 8 {
			v, ok = math.Float64frombits(u64(b)), true
		}
		return nil
	})
	return v, ok, err
}

// SetFloat remembers a value across restarts, committed to disk before it returns.
func (q *Queue) SetFloat(name string, v float64) error {
	return q.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Put([]byte(name), be(math.Float64bits(v)))
	})
}

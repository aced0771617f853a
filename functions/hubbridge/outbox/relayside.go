package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Chunk is a run of stored readings, handed to the relay in order.
type Chunk struct {
	// Order is the chunk's place in the outbox, increasing across restarts.
	Order int64
	// Stored is when the hub stored it.
	Stored time.Time
	// Count is the number of readings.
	Count int
	data  []byte
}

// Record is one reading of a chunk as it goes to Kafka.
type Record struct {
	// Key is the device name; Value the reading in its wire form (reading.Encode).
	Key, Value []byte
}

// Records splits the chunk into its readings, in the order they were stored. The
// slices share the chunk's memory.
func (c Chunk) Records() ([]Record, error) {
	recs := make([]Record, 0, c.Count)
	rest := c.data
	for len(rest) > 0 {
		line, tail, ok := bytes.Cut(rest, []byte{'\n'})
		if !ok {
			return nil, fmt.Errorf("outbox: chunk %d: unterminated line", c.Order)
		}
		key, value, ok := bytes.Cut(line, []byte{'\t'})
		if !ok || len(key) == 0 || len(value) == 0 {
			return nil, fmt.Errorf("outbox: chunk %d: malformed line", c.Order)
		}
		recs = append(recs, Record{Key: key, Value: value})
		rest = tail
	}
	if len(recs) != c.Count {
		return nil, fmt.Errorf("outbox: chunk %d holds %d readings, header says %d", c.Order, len(recs), c.Count)
	}
	return recs, nil
}

// Notify is signalled (without blocking the writer; it may coalesce) when a chunk is
// stored.
func (ob *Outbox) Notify() <-chan struct{} { return ob.notify }

// Pending returns the oldest undelivered chunks in order: at least one if any is
// pending, and more while their readings add up to at most max. Chunk data not kept in
// memory is read back from its segment. It removes nothing: call Delivered once Kafka
// has them.
func (ob *Outbox) Pending(ctx context.Context, max int) ([]Chunk, error) {
	for attempt := 0; ; attempt++ {
		ob.mu.Lock()
		var out []Chunk
		var missing *segment
		n := 0
		for _, c := range ob.queue {
			if len(out) > 0 && n+c.count > max {
				break
			}
			if c.data == nil {
				missing = c.seg
				break
			}
			out = append(out, Chunk{Order: c.order, Stored: c.stored, Count: c.count, data: c.data})
			n += c.count
		}
		ob.mu.Unlock()
		if len(out) > 0 || missing == nil {
			return out, nil
		}
		if attempt > 0 {
			return nil, fmt.Errorf("outbox: segment %s lacks a pending chunk", missing.name)
		}
		if err := ob.loadSegment(ctx, missing); err != nil {
			return nil, err
		}
	}
}

// loadSegment reads a whole segment back and attaches the data of its pending chunks;
// one read per segment keeps this O(segment) on FerretDB, which scans for any filter.
func (ob *Outbox) loadSegment(ctx context.Context, seg *segment) error {
	docs, err := ob.readChunks(ctx, seg.name, true)
	if err != nil {
		return err
	}
	byOrder := make(map[int64][]byte, len(docs))
	for _, d := range docs {
		data, err := unpackChunk(d.Enc, d.Data)
		if err != nil {
			// Only this chunk is unreadable; it counts as missing below, so that the
			// readings after it are still relayed.
			ob.log.Error("chunk unreadable", "segment", seg.name, "chunk", d.ID, "err", err)
			continue
		}
		byOrder[d.Order] = data
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	for _, c := range ob.queue {
		if c.seg != seg || c.data != nil {
			continue
		}
		d, ok := byOrder[c.order]
		if !ok {
			// Lost from MongoDB (dropped by hand?): nothing to relay; say so loudly.
			ob.log.Error("chunk missing from its segment; its readings are lost", "segment", seg.name, "order", c.order, "readings", c.count)
			d = []byte{}
			ob.backlog -= int64(c.count)
			c.count = 0
		}
		c.data = d
		ob.memBytes += len(d)
	}
	return nil
}

// Delivered records that every chunk up to and including order is in Kafka: it
// removes them from the backlog and saves the progress in MongoDB, so that a restart
// does not relay them again. Saving is retried with the next call if it fails (the
// error is returned); the in-memory progress moves on regardless.
func (ob *Outbox) Delivered(ctx context.Context, order int64) error {
	ob.mu.Lock()
	if order <= ob.delivered {
		ob.mu.Unlock()
		return nil
	}
	ob.delivered = order
	i := 0
	for ; i < len(ob.queue) && ob.queue[i].order <= order; i++ {
		c := ob.queue[i]
		ob.memBytes -= len(c.data)
		ob.backlog -= int64(c.count)
		c.seg.pending--
		ob.queue[i] = nil
	}
	ob.queue = ob.queue[i:]
	ob.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ob.opts.WriteTimeout)
	defer cancel()
	_, err := ob.db.Collection(stateColl).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: stateID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "order", Value: order}, {Key: "at", Value: time.Now()}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("outbox: save relay progress: %w", err)
	}
	return nil
}

// Purge drops sealed segments whose chunks are all delivered and that were sealed
// longer ago than the retention. It returns the number dropped.
func (ob *Outbox) Purge(ctx context.Context) (int, error) {
	now := time.Now()
	ob.mu.Lock()
	var drop []*segment
	for _, s := range ob.segments {
		if s.sealed && s.pending == 0 && s.last <= ob.delivered && now.Sub(s.sealedAt) >= ob.opts.Retention {
			drop = append(drop, s)
		}
	}
	ob.mu.Unlock()
	var errs []error
	dropped := 0
	for _, s := range drop {
		if err := ob.db.Collection(s.name).Drop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drop segment %s: %w", s.name, err))
			continue
		}
		if _, err := ob.db.Collection(segmentsColl).DeleteOne(ctx, bson.D{{Key: "_id", Value: s.name}}); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			ob.log.Warn("forget dropped segment", "segment", s.name, "err", err)
		}
		ob.mu.Lock()
		for i, x := range ob.segments {
			if x == s {
				ob.segments = append(ob.segments[:i], ob.segments[i+1:]...)
				break
			}
		}
		ob.mu.Unlock()
		dropped++
	}
	if len(errs) > 0 {
		return dropped, fmt.Errorf("outbox: purge: %w", errors.Join(errs...))
	}
	return dropped, nil
}

package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// seqColl holds one counter document per device: {_id: device, seq: last reserved}.
const seqColl = "device_seq"

// seqBlock is how many sequence numbers one counter update reserves for a device.
// Events without a seq (any plain EdgeX client) then cost the database one update per
// seqBlock readings instead of one each, which is what kept a busy hub from
// answering. A restart leaves at most this many numbers of a device unused.
const seqBlock = 1024

// seqs hands out reserved sequence numbers per device.
type seqs struct {
	mu      sync.Mutex
	devices map[string]*deviceSeqs
}

// deviceSeqs is one device's reserved range [next, end). Its mutex is held across
// the counter update, so one device waits for its own reservation only.
type deviceSeqs struct {
	mu        sync.Mutex
	next, end uint64
}

func (s *seqs) device(name string) *deviceSeqs {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.devices == nil {
		s.devices = map[string]*deviceSeqs{}
	}
	d, ok := s.devices[name]
	if !ok {
		d = &deviceSeqs{}
		s.devices[name] = d
	}
	return d
}

// NextSeq reserves n consecutive sequence numbers for device's readings that came
// without one and returns the first. Numbers increase across restarts (with a gap
// after one): the counter lives in MongoDB and is moved on by at least seqBlock at a
// time with one findOneAndUpdate ($inc, upsert), at most Options.MaxReservations of
// them at once.
func (ob *Outbox) NextSeq(ctx context.Context, device string, n int) (uint64, error) {
	if n <= 0 {
		return 0, errors.New("outbox: NextSeq needs n > 0")
	}
	d := ob.seqs.device(device)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.end-d.next < uint64(n) {
		select {
		case ob.reserving <- struct{}{}:
			defer func() { <-ob.reserving }()
		case <-ctx.Done():
			return 0, fmt.Errorf("outbox: next seq of %s: waiting for one of %d counter updates: %w", device, cap(ob.reserving), ctx.Err())
		}
		size := max(int64(n), seqBlock)
		var doc struct {
			Seq int64 `bson:"seq"`
		}
		err := ob.db.Collection(seqColl).FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: device}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: size}}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
		).Decode(&doc)
		if err != nil {
			return 0, fmt.Errorf("outbox: next seq of %s: %w", device, err)
		}
		if doc.Seq < size {
			return 0, fmt.Errorf("outbox: seq counter of %s is %d after adding %d", device, doc.Seq, size)
		}
		// What is left of the old range is dropped, so the numbers stay consecutive
		// within an event.
		d.next, d.end = uint64(doc.Seq-size)+1, uint64(doc.Seq)+1
	}
	first := d.next
	d.next += uint64(n)
	return first, nil
}

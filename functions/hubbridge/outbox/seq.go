package outbox

import (
	"context"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Sequence numbers for readings that came without one (any plain EdgeX client) are
// epoch<<epochShift + n: an epoch is taken from one counter in MongoDB, shared by
// every hub process on the database, and n counts a device's readings within it.
// A process takes its first epoch at its first such reading, and another only when a
// device has used up 2^epochShift numbers of it. Epochs only grow, so a device's
// numbers grow across restarts, and two processes never hand out the same number.
//
// This costs MongoDB one write per process start however many devices come back,
// where a counter per device cost one write per device: 2,500 devices returning
// after a restart at once queued behind 2,500 counter updates, about 57 a second on
// FerretDB, for most of a minute.
const (
	seqEpochColl = "seq_epochs"
	seqEpochID   = "epoch"
	epochShift   = 32
	// maxEpoch keeps numbers at or below 2^53, so that a reader that parses JSON
	// numbers as float64 still reads them exactly.
	maxEpoch = 1<<(53-epochShift) - 1
)

// seqs hands out numbers per device from the process's current epoch.
type seqs struct {
	mu      sync.Mutex
	devices map[string]*deviceSeqs

	// epochLock (capacity 1) is held while a new epoch is taken, so that callers can
	// give up waiting for it when their context ends.
	epochLock chan struct{}
	epoch     uint64 // the newest epoch taken; 0: none yet (guarded by epochLock)
}

// deviceSeqs is one device's range [next, end) within one epoch. Its mutex is held
// across taking an epoch, so a device waits for its own numbers only.
type deviceSeqs struct {
	mu        sync.Mutex
	epoch     uint64
	next, end uint64
}

func newSeqs() seqs {
	return seqs{devices: map[string]*deviceSeqs{}, epochLock: make(chan struct{}, 1)}
}

func (s *seqs) device(name string) *deviceSeqs {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[name]
	if !ok {
		d = &deviceSeqs{}
		s.devices[name] = d
	}
	return d
}

// NextSeq reserves n consecutive sequence numbers for device's readings that came
// without one and returns the first. Numbers increase per device within a process
// and across restarts (with a gap after one); see seqEpochColl.
func (ob *Outbox) NextSeq(ctx context.Context, device string, n int) (uint64, error) {
	if n <= 0 || n >= 1<<epochShift {
		return 0, fmt.Errorf("outbox: NextSeq needs 0 < n < 2^%d, got %d", epochShift, n)
	}
	d := ob.seqs.device(device)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.end-d.next < uint64(n) {
		epoch, err := ob.epochAfter(ctx, d.epoch)
		if err != nil {
			return 0, fmt.Errorf("outbox: next seq of %s: %w", device, err)
		}
		// What is left of the old range is dropped, so the numbers stay consecutive
		// within an event.
		d.epoch = epoch
		d.next, d.end = epoch<<epochShift+1, (epoch+1)<<epochShift
	}
	first := d.next
	d.next += uint64(n)
	return first, nil
}

// epochAfter returns the process's current epoch if it is newer than used, and takes
// a new one from MongoDB otherwise.
func (ob *Outbox) epochAfter(ctx context.Context, used uint64) (uint64, error) {
	s := &ob.seqs
	select {
	case s.epochLock <- struct{}{}:
		defer func() { <-s.epochLock }()
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for a sequence epoch: %w", ctx.Err())
	}
	if s.epoch > used {
		return s.epoch, nil
	}
	var doc struct {
		Epoch int64 `bson:"epoch"`
	}
	err := ob.db.Collection(seqEpochColl).FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: seqEpochID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "epoch", Value: int64(1)}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&doc)
	switch {
	case err != nil:
		return 0, fmt.Errorf("take a sequence epoch: %w", err)
	case doc.Epoch <= 0:
		return 0, fmt.Errorf("sequence epoch counter is %d after adding 1", doc.Epoch)
	case doc.Epoch > maxEpoch:
		return 0, fmt.Errorf("sequence epochs used up (%d): numbers for readings without a seq tag would pass 2^53", maxEpoch)
	}
	ob.log.Info("outbox: took a sequence epoch for readings without a seq tag", "epoch", doc.Epoch)
	s.epoch = uint64(doc.Epoch)
	return s.epoch, nil
}

package outbox

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/smartx-team/overcloud/functions/reading"
)

// StoreResult says what became of the readings given to Store.
type StoreResult struct {
	// Stored counts readings written now; Duplicates those stored before (same id).
	Stored, Duplicates int
}

type storeReq struct {
	ids   []string
	lines [][]byte // device TAB encoded reading LF
	done  chan storeDone
}

type storeDone struct {
	res StoreResult
	err error
}

// Store writes rs durably and returns once MongoDB acknowledged them (or they were
// stored before). Readings must be valid (reading.Validate); an invalid one fails the
// whole call with an error wrapping reading.ErrInvalid and stores nothing. Concurrent
// calls are committed together, one MongoDB write per group.
func (ob *Outbox) Store(ctx context.Context, rs []reading.Reading) (StoreResult, error) {
	if len(rs) == 0 {
		return StoreResult{}, nil
	}
	req := &storeReq{ids: make([]string, len(rs)), lines: make([][]byte, len(rs)), done: make(chan storeDone, 1)}
	for i, r := range rs {
		v, err := reading.Encode(r)
		if err != nil {
			return StoreResult{}, fmt.Errorf("outbox: reading %d: %w", i, err)
		}
		req.lines[i] = chunkLine(r.Device, v)
		req.ids[i] = r.ID
	}
	select {
	case ob.reqs <- req:
	case <-ob.closed:
		return StoreResult{}, ErrClosed
	case <-ctx.Done():
		return StoreResult{}, ctx.Err()
	}
	select {
	case d := <-req.done:
		return d.res, d.err
	case <-ob.done:
		// The writer may have answered just before it returned.
		select {
		case d := <-req.done:
			return d.res, d.err
		default:
			return StoreResult{}, ErrClosed
		}
	case <-ctx.Done():
		// The write goes on; the caller's retry will find the ids stored.
		return StoreResult{}, ctx.Err()
	}
}

// chunkLine is one reading's line of a chunk's data (see chunkDoc): device TAB
// encoded reading LF.
func chunkLine(device string, encoded []byte) []byte {
	line := make([]byte, 0, len(device)+len(encoded)+2)
	line = append(line, device...)
	line = append(line, '\t')
	line = append(line, encoded...)
	return append(line, '\n')
}

// Run is the single writer: it groups queued Store calls into one chunk per MongoDB
// write, up to MaxBatch readings, and seals segments by size and age. When ctx ends
// it commits what is queued and returns; later Store calls fail with ErrClosed. Stop
// the producers (HTTP server, subscriber) before cancelling ctx so nothing in flight
// is refused.
func (ob *Outbox) Run(ctx context.Context) error {
	defer close(ob.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var batch []*storeReq
	for {
		select {
		case req := <-ob.reqs:
			batch = ob.gather(append(batch[:0], req))
			ob.commit(ctx, batch)
		case <-tick.C:
			ob.sealIfOld(ctx, time.Now())
		case <-ctx.Done():
			close(ob.closed)
			for {
				select {
				case req := <-ob.reqs:
					batch = ob.gather(append(batch[:0], req))
					ob.commit(ctx, batch)
				default:
					return nil
				}
			}
		}
	}
}

// gather adds what is queued without waiting, up to MaxBatch readings: while one write
// is in flight the next group builds up, so batches grow with the load on their own.
func (ob *Outbox) gather(batch []*storeReq) []*storeReq {
	n := len(batch[0].ids)
	for n < ob.opts.MaxBatch {
		select {
		case req := <-ob.reqs:
			batch = append(batch, req)
			n += len(req.ids)
		default:
			return batch
		}
	}
	return batch
}

// commit writes one chunk for batch and answers every request in it.
func (ob *Outbox) commit(ctx context.Context, batch []*storeReq) {
	now := time.Now()
	results := make([]StoreResult, len(batch))
	var data bytes.Buffer
	var ids []string
	seen := make(map[string]struct{}, 64)
	for i, req := range batch {
		for j, id := range req.ids {
			if _, dup := seen[id]; dup || ob.dedup.has(id) {
				results[i].Duplicates++
				continue
			}
			seen[id] = struct{}{}
			ids = append(ids, id)
			data.Write(req.lines[j])
			results[i].Stored++
		}
	}
	var err error
	if len(ids) > 0 {
		err = ob.insert(ctx, now, len(ids), data.Bytes())
	}
	if err == nil {
		for _, id := range ids {
			ob.dedup.add(id, now)
		}
		ob.m.duplicates.Add(float64(sumDup(results)))
	} else {
		ob.m.storeErrors.Inc()
		ob.log.Error("store readings in MongoDB", "readings", len(ids), "err", err)
	}
	for i, req := range batch {
		if err != nil {
			req.done <- storeDone{err: err}
		} else {
			req.done <- storeDone{res: results[i]}
		}
	}
}

func sumDup(rs []StoreResult) int {
	n := 0
	for _, r := range rs {
		n += r.Duplicates
	}
	return n
}

// insert writes one chunk into the current segment, starting a segment if needed, and
// queues it for the relay.
func (ob *Outbox) insert(ctx context.Context, now time.Time, count int, data []byte) error {
	ob.mu.Lock()
	order := max(ob.lastOrder+1, now.UnixNano())
	ob.lastOrder = order
	seg := ob.current
	if seg == nil {
		seg = &segment{name: segmentName(order), created: now}
		ob.current = seg
		ob.segments = append(ob.segments, seg)
	}
	ob.mu.Unlock()

	doc := chunkDoc{ID: chunkID(order), Order: order, Stored: now, Count: count}
	doc.Enc, doc.Data = packChunk(data)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ob.opts.WriteTimeout)
	_, err := ob.db.Collection(seg.name).InsertOne(wctx, doc)
	cancel()
	if err != nil {
		// The chunk may or may not be stored; its requests fail and the devices retry.
		// If it was stored it is found and relayed by the next Open (a duplicate with
		// the same reading ids, harmless downstream).
		return fmt.Errorf("outbox: insert chunk: %w", err)
	}
	ob.m.batch.Observe(float64(count))

	ob.mu.Lock()
	c := &chunk{seg: seg, order: order, stored: now, count: count}
	if ob.memBytes+len(data) <= ob.opts.MemoryBytes {
		c.data = bytes.Clone(data)
		ob.memBytes += len(data)
	}
	ob.queue = append(ob.queue, c)
	ob.backlog += int64(count)
	seg.pending++
	seg.last = order
	seg.bytes += len(data)
	full := seg.bytes >= ob.opts.SegmentMaxBytes || now.Sub(seg.created) >= ob.opts.SegmentMaxAge
	ob.mu.Unlock()
	if full {
		ob.seal(ctx, now)
	}
	select {
	case ob.notify <- struct{}{}:
	default:
	}
	return nil
}

// sealIfOld seals the current segment once it is older than SegmentMaxAge, so that an
// idle hub's last segment can be dropped too.
func (ob *Outbox) sealIfOld(ctx context.Context, now time.Time) {
	ob.mu.Lock()
	old := ob.current != nil && now.Sub(ob.current.created) >= ob.opts.SegmentMaxAge
	ob.mu.Unlock()
	if old {
		ob.seal(ctx, now)
	}
}

// seal closes the current segment; the next chunk starts a new one. Only the writer
// goroutine calls it.
func (ob *Outbox) seal(ctx context.Context, now time.Time) {
	ob.mu.Lock()
	seg := ob.current
	ob.current = nil
	if seg != nil {
		seg.sealed, seg.sealedAt = true, now
	}
	ob.mu.Unlock()
	if seg != nil {
		ob.writeSegmentDoc(ctx, seg)
	}
}

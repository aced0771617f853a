// Package outbox is the hub's durable store between ingest and Kafka: every reading is
// in MongoDB's journal (and on a majority of a replica set, see Durable) before the
// device gets its 201, and stays there until the relay has seen Kafka acknowledge it.
//
// # Layout in MongoDB
//
// Readings are stored in chunks, one document per group commit (the readings of many
// concurrent requests), never one document per reading. Chunks live in segment
// collections named outbox_<20-digit order>; a segment is sealed after a size or age
// limit and dropped, as a whole, once all its chunks are delivered and the retention
// has passed. The relay's progress is one document in outbox_state and sealed segments
// are listed in outbox_segments.
//
// Why not one document per reading with a delivered flag: the test server (FerretDB
// 1.24 on SQLite) pushes no filter, sort or index down except "no filter, no sort,
// limit", so every filtered find, update or delete scans and decodes the whole
// collection. Measured on 2 cores with 120,000 readings stored: "oldest 1,000
// undelivered" took 10 s, deleting 1,000 by _id $in 15.6 s, inserting 1,000 readings
// as documents 50-60 ms but as one chunk 5 ms. Chunks in segments make every operation
// the relay needs O(its own data) on FerretDB and on MongoDB alike: append a chunk,
// read a segment, drop a segment, update one state document.
//
// # Order and idempotence
//
// Each chunk gets an order number, max(previous+1, wall clock in ns), monotonic across
// restarts because Open starts from the largest order found. One writer goroutine
// commits chunks one after another, so the relay sees them in commit order, which is
// the order the devices' requests arrived in. A reading id stored before (within
// DedupMax ids and the retention) is answered as stored without storing it again, so a
// device's retry after a lost 201 is idempotent. The window is kept in memory: after a
// restart a retry of a reading delivered before the restart is relayed once more, with
// its same id, which the sender writes to the same InfluxDB point.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Collection names; segments are segmentPrefix + 20 digits.
const (
	segmentPrefix  = "outbox_"
	segmentsColl   = "outbox_segments"
	stateColl      = "outbox_state"
	stateID        = "delivered"
	segmentNameLen = len(segmentPrefix) + 20
)

// ErrClosed is returned by Store after the writer stopped.
var ErrClosed = errors.New("outbox closed")

// Options configure an Outbox; zero values take the defaults named per field.
type Options struct {
	// Database holds the outbox collections. Required.
	Database *mongo.Database
	// MaxBatch is the most readings one chunk (one group commit) holds (default 2000).
	MaxBatch int
	// SegmentMaxBytes seals a segment once its chunks hold this much (default 32 MiB).
	SegmentMaxBytes int
	// SegmentMaxAge seals a segment this long after its first chunk (default 1 min).
	SegmentMaxAge time.Duration
	// Retention keeps delivered segments, and remembers stored reading ids for
	// deduplication, this long (default 1 h; negative: drop delivered segments at once
	// and remember ids only while DedupMax allows).
	Retention time.Duration
	// DedupMax bounds how many reading ids are remembered (default 100,000, about
	// 10 MB).
	DedupMax int
	// MemoryBytes bounds the chunk data kept in memory for the relay; beyond it the
	// relay reads chunks back from MongoDB (default 64 MiB).
	MemoryBytes int
	// WriteTimeout bounds one MongoDB write (default 10 s).
	WriteTimeout time.Duration
	// WriteConcern of every outbox write (default Durable(false): w:1, j:true). It
	// must ask for the journal: a 201 tells the device it may forget the reading, so
	// a MongoDB crash right after it must not lose it.
	WriteConcern *writeconcern.WriteConcern
	// Registerer receives the outbox metrics (default: none).
	Registerer prometheus.Registerer
	// Logger (default: discard).
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if o.Database == nil {
		return errors.New("outbox: Database is required")
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 2000
	}
	if o.SegmentMaxBytes <= 0 {
		o.SegmentMaxBytes = 32 << 20
	}
	if o.SegmentMaxAge <= 0 {
		o.SegmentMaxAge = time.Minute
	}
	if o.Retention == 0 {
		o.Retention = time.Hour
	}
	if o.Retention < 0 {
		o.Retention = 0
	}
	if o.DedupMax <= 0 {
		o.DedupMax = 100_000
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 64 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.WriteConcern == nil {
		o.WriteConcern = Durable(false)
	}
	if j := o.WriteConcern.Journal; j == nil || !*j {
		return errors.New("outbox: WriteConcern must ask for the journal (j: true)")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Durable is the write concern a 201 needs: journaled (j: true) and, on a replica
// set, on a majority of its members (w: majority), so that neither a crash nor a
// fail-over loses an acknowledged reading; w: 1 on a single server.
func Durable(replicaSet bool) *writeconcern.WriteConcern {
	wc := writeconcern.Journaled()
	wc.W = 1
	if replicaSet {
		wc.W = writeconcern.WCMajority
	}
	return wc
}

// Outbox stores readings durably and hands them to the relay in order. Store is safe
// for concurrent use; Run must run (once) for Store to make progress. Pending,
// Delivered and Purge are for one consumer, the relay. Closing the MongoDB client is
// the caller's job, after Run returned.
type Outbox struct {
	opts   Options
	db     *mongo.Database
	log    *slog.Logger
	reqs   chan *storeReq
	closed chan struct{} // closed when Run stops taking requests
	done   chan struct{} // closed when Run returned
	notify chan struct{} // capacity 1: something new to relay
	m      metrics

	dedup dedup // owned by the writer goroutine
	seqs  seqs

	mu        sync.Mutex
	lastOrder int64      // largest order assigned or found
	delivered int64      // every chunk up to this order reached Kafka
	queue     []*chunk   // undelivered chunks, ascending order
	segments  []*segment // ascending
	current   *segment   // the segment the writer appends to; nil until its first chunk
	memBytes  int        // chunk data held in queue
	backlog   int64      // readings in queue
}

// segment is one outbox_<order> collection.
type segment struct {
	name     string
	last     int64 // order of its last chunk
	bytes    int
	created  time.Time
	sealed   bool
	sealedAt time.Time
	pending  int // undelivered chunks in it
}

// chunk is one stored group commit; data is nil when it is only in MongoDB.
type chunk struct {
	seg    *segment
	order  int64
	stored time.Time
	count  int
	data   []byte
}

// chunkDoc is a chunk as stored. Data holds one line per reading: the device name, a
// TAB, the reading in its wire form (reading.Encode), a LF. Neither part can contain
// a TAB or LF: names reject control characters and JSON escapes them. Data is
// stored as Enc says (packChunk; empty: plain).
type chunkDoc struct {
	ID     string    `bson:"_id"`
	Order  int64     `bson:"order"`
	Stored time.Time `bson:"stored"`
	Count  int       `bson:"count"`
	Enc    string    `bson:"enc,omitempty"`
	Data   []byte    `bson:"data,omitempty"`
}

type segmentDoc struct {
	ID     string    `bson:"_id"`
	Last   int64     `bson:"last"`
	Sealed time.Time `bson:"sealed"`
}

type stateDoc struct {
	ID    string    `bson:"_id"`
	Order int64     `bson:"order"`
	At    time.Time `bson:"at"`
}

// Open loads the outbox state from MongoDB: the relay's progress and the chunks not yet
// delivered (their headers; data is read back when the relay needs it). Segments left
// by an earlier run are sealed: this run appends to new ones.
func Open(ctx context.Context, o Options) (*Outbox, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ob := &Outbox{
		opts:   o,
		db:     o.Database.Client().Database(o.Database.Name(), options.Database().SetWriteConcern(o.WriteConcern)),
		log:    o.Logger,
		reqs:   make(chan *storeReq, 4096),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
		notify: make(chan struct{}, 1),
		dedup:  newDedup(o.DedupMax, o.Retention),
		seqs:   newSeqs(),
	}
	if err := ob.load(ctx); err != nil {
		return nil, fmt.Errorf("outbox: open: %w", err)
	}
	ob.m = newMetrics(o.Registerer, ob)
	return ob, nil
}

func (ob *Outbox) load(ctx context.Context) error {
	var st stateDoc
	err := ob.db.Collection(stateColl).FindOne(ctx, bson.D{{Key: "_id", Value: stateID}}).Decode(&st)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("read relay state: %w", err)
	}
	ob.delivered = st.Order

	metas := map[string]segmentDoc{}
	cur, err := ob.db.Collection(segmentsColl).Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("read segment list: %w", err)
	}
	var docs []segmentDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("read segment list: %w", err)
	}
	for _, d := range docs {
		metas[d.ID] = d
	}

	names, err := ob.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return !isSegmentName(n) })
	slices.Sort(names)

	ob.lastOrder = ob.delivered
	now := time.Now()
	for _, name := range names {
		seg := &segment{name: name, sealed: true, sealedAt: now, created: now}
		if m, ok := metas[name]; ok && m.Last <= ob.delivered {
			seg.last, seg.sealedAt = m.Last, m.Sealed
			ob.segments = append(ob.segments, seg)
			ob.lastOrder = max(ob.lastOrder, m.Last)
			continue
		}
		chunks, err := ob.readChunks(ctx, name, false)
		if err != nil {
			return err
		}
		for _, c := range chunks {
			seg.last = max(seg.last, c.Order)
			if c.Order <= ob.delivered {
				continue
			}
			seg.pending++
			ob.queue = append(ob.queue, &chunk{seg: seg, order: c.Order, stored: c.Stored, count: c.Count})
			ob.backlog += int64(c.Count)
		}
		ob.lastOrder = max(ob.lastOrder, seg.last)
		ob.segments = append(ob.segments, seg)
		if _, ok := metas[name]; !ok {
			ob.writeSegmentDoc(ctx, seg)
		}
	}
	// Segments are sorted by their first order; chunks within each by order.
	slices.SortStableFunc(ob.queue, func(a, b *chunk) int { return cmpInt64(a.order, b.order) })
	if n := len(ob.queue); n > 0 {
		ob.log.Info("outbox holds undelivered readings from an earlier run",
			"readings", ob.backlog, "chunks", n, "segments", len(ob.segments))
	}
	return nil
}

// readChunks reads a segment's chunks in order, with their data as stored if withData.
func (ob *Outbox) readChunks(ctx context.Context, name string, withData bool) ([]chunkDoc, error) {
	opts := options.Find()
	if !withData {
		opts.SetProjection(bson.D{{Key: "data", Value: 0}})
	}
	// No sort: FerretDB would decode and sort the whole segment anyway; we sort here.
	cur, err := ob.db.Collection(name).Find(ctx, bson.D{}, opts)
	if err != nil {
		return nil, fmt.Errorf("read segment %s: %w", name, err)
	}
	var docs []chunkDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read segment %s: %w", name, err)
	}
	slices.SortFunc(docs, func(a, b chunkDoc) int { return cmpInt64(a.Order, b.Order) })
	return docs, nil
}

// writeSegmentDoc records a sealed segment's last order so the next Open need not
// read it; failing is harmless (Open then reads the segment).
func (ob *Outbox) writeSegmentDoc(ctx context.Context, seg *segment) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ob.opts.WriteTimeout)
	defer cancel()
	_, err := ob.db.Collection(segmentsColl).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: seg.name}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "last", Value: seg.last}, {Key: "sealed", Value: seg.sealedAt}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		ob.log.Warn("record sealed segment", "segment", seg.name, "err", err)
	}
}

func isSegmentName(n string) bool {
	if len(n) != segmentNameLen || !strings.HasPrefix(n, segmentPrefix) {
		return false
	}
	_, err := strconv.ParseUint(n[len(segmentPrefix):], 10, 64)
	return err == nil
}

func segmentName(firstOrder int64) string { return fmt.Sprintf("%s%020d", segmentPrefix, firstOrder) }

func chunkID(order int64) string { return fmt.Sprintf("%020d", order) }

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Backlog is the number of readings stored and not yet delivered.
func (ob *Outbox) Backlog() int64 {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return ob.backlog
}

// Segments is the number of segment collections (undelivered and retained).
func (ob *Outbox) Segments() int {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return len(ob.segments)
}

package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// One FerretDB for the package; each subtest gets its own database.
func TestOutbox(t *testing.T) {
	client := servertest.MongoClient(t)
	n := 0
	db := func() *mongo.Database {
		n++
		return client.Database(fmt.Sprintf("outbox_test_%d", n))
	}
	t.Run("StoreRelayDeliver", func(t *testing.T) { testStoreRelayDeliver(t, db()) })
	t.Run("ConcurrentOrder", func(t *testing.T) { testConcurrentOrder(t, db()) })
	t.Run("Duplicates", func(t *testing.T) { testDuplicates(t, db()) })
	t.Run("Restart", func(t *testing.T) { testRestart(t, db()) })
	t.Run("MemoryBudget", func(t *testing.T) { testMemoryBudget(t, db()) })
	t.Run("Purge", func(t *testing.T) { testPurge(t, db()) })
	t.Run("StoredCompressed", func(t *testing.T) { testStoredCompressed(t, db()) })
	t.Run("NextSeq", func(t *testing.T) { testNextSeq(t, db()) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, db()) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, db()) })
}

// running is an Outbox with its writer running until the test ends (or stop).
type running struct {
	*Outbox
	stop func()
}

func open(t *testing.T, db *mongo.Database, o Options) running {
	t.Helper()
	o.Database = db
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ob, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(runCtx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stopRun()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return running{ob, stop}
}

func mkReading(device string, seq uint64) reading.Reading {
	return reading.Reading{
		ID: fmt.Sprintf("%s-%d", device, seq), Device: device, Resource: "temperature",
		Value: 20 + float64(seq%10), Unit: "C", Origin: time.Now().UnixNano(), Seq: seq, Location: "sector-1",
	}
}

func store(t *testing.T, ob running, rs ...reading.Reading) StoreResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ob.Store(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// drain takes everything pending, checks each record decodes, marks it delivered and
// returns the readings in relay order.
func drain(t *testing.T, ob *Outbox, batch int) []reading.Reading {
	t.Helper()
	ctx := context.Background()
	var out []reading.Reading
	for {
		chunks, err := ob.Pending(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) == 0 {
			return out
		}
		for _, c := range chunks {
			recs, err := c.Records()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				rd, err := reading.Decode(r.Value)
				if err != nil {
					t.Fatalf("record %q does not decode: %v", r.Value, err)
				}
				if string(r.Key) != rd.Device {
					t.Errorf("key %q, device %q", r.Key, rd.Device)
				}
				out = append(out, rd)
			}
		}
		if err := ob.Delivered(ctx, chunks[len(chunks)-1].Order); err != nil {
			t.Fatal(err)
		}
	}
}

func testStoreRelayDeliver(t *testing.T, db *mongo.Database) {
	ob := open(t, db, Options{})
	in := []reading.Reading{mkReading("dev-a", 1), mkReading("dev-a", 2), mkReading("dev-b", 1)}
	if res := store(t, ob, in...); res.Stored != 3 || res.Duplicates != 0 {
		t.Fatalf("store = %+v, want 3 stored", res)
	}
	if b := ob.Backlog(); b != 3 {
		t.Errorf("backlog = %d, want 3", b)
	}
	select {
	case <-ob.Notify():
	default:
		t.Error("no notification after a store")
	}
	got := drain(t, ob.Outbox, 1000)
	if len(got) != len(in) {
		t.Fatalf("relayed %d readings, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Errorf("reading %d = %+v, want %+v", i, got[i], in[i])
		}
	}
	if b := ob.Backlog(); b != 0 {
		t.Errorf("backlog after delivery = %d, want 0", b)
	}
}

// Concurrent writers are grouped into few chunks, and each writer's readings come out
// in the order it stored them.
func testConcurrentOrder(t *testing.T, db *mongo.Database) {
	reg := prometheus.NewRegistry()
	ob := open(t, db, Options{Registerer: reg, MaxBatch: 500})
	const devices, per = 50, 20
	var wg sync.WaitGroup
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range per {
				name := fmt.Sprintf("dev-%d", d)
				store(t, ob, mkReading(name, uint64(s+1)))
			}
		}()
	}
	wg.Wait()
	got := drain(t, ob.Outbox, 300)
	if len(got) != devices*per {
		t.Fatalf("relayed %d, want %d", len(got), devices*per)
	}
	last := map[string]uint64{}
	for _, r := range got {
		if r.Seq != last[r.Device]+1 {
			t.Fatalf("%s: seq %d after %d", r.Device, r.Seq, last[r.Device])
		}
		last[r.Device] = r.Seq
	}
	writes := int(servertest.Metric(t, reg, "hub_store_batch_readings"))
	if writes >= devices*per {
		t.Errorf("%d MongoDB writes for %d concurrent readings: nothing was grouped", writes, devices*per)
	}
}

func testDuplicates(t *testing.T, db *mongo.Database) {
	ob := open(t, db, Options{})
	a, b := mkReading("dev-a", 1), mkReading("dev-a", 2)
	store(t, ob, a)
	if res := store(t, ob, a, b, b); res.Stored != 1 || res.Duplicates != 2 {
		t.Fatalf("store = %+v, want 1 stored, 2 duplicates", res)
	}
	got := drain(t, ob.Outbox, 1000)
	// Delivered ids are still remembered within the retention.
	if res := store(t, ob, a); res.Stored != 0 || res.Duplicates != 1 {
		t.Errorf("store after delivery = %+v, want a duplicate", res)
	}
	if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID {
		t.Errorf("relayed %+v, want a then b once each", got)
	}
}

// A restart keeps the undelivered readings and the relay's progress, and orders new
// chunks after the old ones.
func testRestart(t *testing.T, db *mongo.Database) {
	ob := open(t, db, Options{})
	store(t, ob, mkReading("dev-a", 1), mkReading("dev-a", 2))
	store(t, ob, mkReading("dev-a", 3))
	ctx := context.Background()
	first, err := ob.Pending(ctx, 2)
	if err != nil || len(first) != 1 {
		t.Fatalf("pending = %d chunks, %v; want the first chunk", len(first), err)
	}
	if err := ob.Delivered(ctx, first[0].Order); err != nil {
		t.Fatal(err)
	}
	ob.stop()

	ob2 := open(t, db, Options{})
	if b := ob2.Backlog(); b != 1 {
		t.Errorf("backlog after restart = %d, want 1", b)
	}
	store(t, ob2, mkReading("dev-a", 4))
	got := drain(t, ob2.Outbox, 1000)
	if len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 4 {
		t.Errorf("after restart relayed %+v, want seq 3 then 4", got)
	}
}

// Beyond the memory budget chunks are read back from MongoDB, in order.
func testMemoryBudget(t *testing.T, db *mongo.Database) {
	ob := open(t, db, Options{MemoryBytes: 1, SegmentMaxBytes: 2000})
	var want []uint64
	for s := uint64(1); s <= 30; s++ {
		store(t, ob, mkReading("dev-m", s))
		want = append(want, s)
	}
	got := drain(t, ob.Outbox, 7)
	if len(got) != len(want) {
		t.Fatalf("relayed %d, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.Seq != want[i] {
			t.Fatalf("reading %d has seq %d, want %d", i, r.Seq, want[i])
		}
	}
	if s := ob.Segments(); s < 2 {
		t.Errorf("%d segments; the size limit should have sealed some", s)
	}
}

// Chunks are stored compressed. After a restart, chunks stored plain (by a hub from
// before compression) are relayed as they are, and a corrupt chunk is lost alone:
// the readings of the chunks around it are relayed.
func testStoredCompressed(t *testing.T, db *mongo.Database) {
	ctx := context.Background()
	ob := open(t, db, Options{})
	const chunks = 3
	for c := range uint64(chunks) {
		var rs []reading.Reading
		for s := range uint64(20) {
			rs = append(rs, mkReading("dev-z", 1+c*20+s))
		}
		store(t, ob, rs...)
	}
	ob.stop()

	var docs []chunkDoc
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !strings.HasPrefix(name, segmentPrefix) {
			continue
		}
		got, err := (&Outbox{db: db}).readChunks(ctx, name, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			docs = append(docs, d)
			plain, err := unpackChunk(d.Enc, d.Data)
			if d.Enc != encZstd || err != nil || len(d.Data) >= len(plain)/2 {
				t.Fatalf("chunk %s stored as %q, %d bytes for %d plain (%v); want zstd, at most half", d.ID, d.Enc, len(d.Data), len(plain), err)
			}
			// The first chunk as a hub before compression stored it; the second corrupt.
			var update bson.D
			switch len(docs) {
			case 1:
				update = bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: plain}}}, {Key: "$unset", Value: bson.D{{Key: "enc", Value: ""}}}}
			case 2:
				update = bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: []byte("not zstd")}}}}
			default:
				continue
			}
			if _, err := db.Collection(name).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, update); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(docs) != chunks {
		t.Fatalf("%d chunks stored, want %d", len(docs), chunks)
	}

	ob2 := open(t, db, Options{})
	got := drain(t, ob2.Outbox, 1000)
	if len(got) != 40 || got[0].Seq != 1 || got[19].Seq != 20 || got[20].Seq != 41 || got[39].Seq != 60 {
		t.Fatalf("relayed %d readings; want the plain chunk's 20 (seq 1-20) and the last chunk's (41-60)", len(got))
	}
	if b := ob2.Backlog(); b != 0 {
		t.Errorf("backlog %d after the drain; want the corrupt chunk's readings counted as lost", b)
	}
}

// Delivered, sealed segments are dropped once the retention passed; undelivered never.
func testPurge(t *testing.T, db *mongo.Database) {
	ctx := context.Background()
	ob := open(t, db, Options{SegmentMaxBytes: 1, Retention: -1})
	for s := uint64(1); s <= 3; s++ {
		store(t, ob, mkReading("dev-p", s))
	}
	if n, err := ob.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purge before delivery dropped %d (%v), want 0", n, err)
	}
	before := segmentCollections(t, db)
	if len(before) != 3 {
		t.Fatalf("segments %v, want 3 (one per chunk)", before)
	}
	drain(t, ob.Outbox, 1000)
	n, err := ob.Purge(ctx)
	if err != nil || n != 3 {
		t.Fatalf("purge dropped %d (%v), want 3", n, err)
	}
	if after := segmentCollections(t, db); len(after) != 0 {
		t.Errorf("segments left after purge: %v", after)
	}
}

func segmentCollections(t *testing.T, db *mongo.Database) []string {
	t.Helper()
	names, err := db.ListCollectionNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, n := range names {
		if isSegmentName(n) {
			segs = append(segs, n)
		}
	}
	return segs
}

func testNextSeq(t *testing.T, db *mongo.Database) {
	ob := open(t, db, Options{})
	ctx := context.Background()
	epochs := func() int64 {
		t.Helper()
		var doc struct {
			Epoch int64 `bson:"epoch"`
		}
		err := db.Collection(seqEpochColl).FindOne(ctx, bson.D{{Key: "_id", Value: seqEpochID}}).Decode(&doc)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			t.Fatal(err)
		}
		return doc.Epoch
	}
	if got := epochs(); got != 0 {
		t.Fatalf("%d epochs taken before any reading needed a number", got)
	}
	base := uint64(1) << epochShift
	for _, tt := range []struct {
		device string
		n      int
		want   uint64
	}{{"dev-a", 2, base + 1}, {"dev-a", 3, base + 3}, {"dev-b", 1, base + 1}, {"dev-a", 1, base + 6}} {
		got, err := ob.NextSeq(ctx, tt.device, tt.n)
		if err != nil || got != tt.want {
			t.Errorf("NextSeq(%s, %d) = %d, %v; want %d", tt.device, tt.n, got, err, tt.want)
		}
	}
	for _, n := range []int{0, -1, 1 << epochShift} {
		if _, err := ob.NextSeq(ctx, "dev-a", n); err == nil {
			t.Errorf("NextSeq with n = %d succeeded", n)
		}
	}

	// Concurrent events of many devices get disjoint, consecutive numbers per device,
	// and all of them together cost one epoch, not a write per device.
	type got struct {
		device string
		first  uint64
	}
	var wg sync.WaitGroup
	firsts := make(chan got, 2000)
	for i := range 2000 {
		device := fmt.Sprintf("dev-c%d", i%400)
		wg.Go(func() {
			first, err := ob.NextSeq(ctx, device, 6)
			if err != nil {
				t.Error(err)
			}
			firsts <- got{device, first}
		})
	}
	wg.Wait()
	close(firsts)
	taken := map[got]bool{}
	for g := range firsts {
		for s := g.first; s < g.first+6; s++ {
			if taken[got{g.device, s}] {
				t.Fatalf("seq %d of %s handed out twice", s, g.device)
			}
			taken[got{g.device, s}] = true
		}
	}
	if len(taken) != 2000*6 {
		t.Errorf("%d numbers handed out, want %d", len(taken), 2000*6)
	}
	if got := epochs(); got != 1 {
		t.Errorf("%d epochs taken by one process, want 1", got)
	}

	// A device that used up its epoch moves on to a new one; the others stay.
	d := ob.seqs.device("dev-b")
	d.mu.Lock()
	d.next = d.end - 2
	d.mu.Unlock()
	if got, err := ob.NextSeq(ctx, "dev-b", 3); err != nil || got != 2*base+1 {
		t.Errorf("NextSeq past the end of an epoch = %d, %v; want %d", got, err, 2*base+1)
	}
	if got, err := ob.NextSeq(ctx, "dev-a", 1); err != nil || got != base+7 {
		t.Errorf("NextSeq of another device after a new epoch = %d, %v; want %d", got, err, base+7)
	}

	// Waiting for an epoch ends with the caller's context; numbers already reserved
	// need none.
	ob.seqs.epochLock <- struct{}{} // as if an epoch were being taken
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := ob.NextSeq(short, "dev-e", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("NextSeq while an epoch is being taken = %v; want it to give up at its deadline", err)
	}
	if got, err := ob.NextSeq(short, "dev-a", 1); err != nil || got != base+8 {
		t.Errorf("NextSeq of reserved numbers while an epoch is being taken = %d, %v; want %d", got, err, base+8)
	}
	<-ob.seqs.epochLock

	// Another process, or this one after a restart, numbers above everything before,
	// and the numbers stay exact as float64.
	again := open(t, db, Options{})
	first, err := again.NextSeq(ctx, "dev-a", 1)
	if err != nil || first != 3*base+1 {
		t.Errorf("NextSeq after a restart = %d, %v; want %d", first, err, 3*base+1)
	}
	if top := uint64(maxEpoch+1)<<epochShift - 1; top > 1<<53 || uint64(float64(top)) != top {
		t.Errorf("the largest number %d is not exact as a float64", top)
	}
	if _, err := db.Collection(seqEpochColl).UpdateOne(ctx, bson.D{{Key: "_id", Value: seqEpochID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "epoch", Value: int64(maxEpoch)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, db, Options{}).NextSeq(ctx, "dev-a", 1); err == nil || !strings.Contains(err.Error(), "used up") {
		t.Errorf("NextSeq with the epochs used up = %v; want an error saying so", err)
	}
}

func testClosed(t *testing.T, db *mongo.Database) {
	ob := open(t, db, Options{})
	ob.stop()
	_, err := ob.Store(context.Background(), []reading.Reading{mkReading("dev-c", 1)})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("store after stop: %v, want ErrClosed", err)
	}
}

func testInvalid(t *testing.T, db *mongo.Database) {
	ob := open(t, db, Options{})
	bad := mkReading("dev-i", 1)
	bad.Seq = 0
	_, err := ob.Store(context.Background(), []reading.Reading{mkReading("dev-i", 2), bad})
	if !errors.Is(err, reading.ErrInvalid) {
		t.Errorf("store of an invalid reading: %v, want reading.ErrInvalid", err)
	}
	if b := ob.Backlog(); b != 0 {
		t.Errorf("backlog %d after a refused store", b)
	}
}

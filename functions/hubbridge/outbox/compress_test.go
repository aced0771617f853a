package outbox

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// chunkOf is a chunk's data as the writer makes it, for n readings of 20 devices.
func chunkOf(t testing.TB, n int) []byte {
	var data bytes.Buffer
	for i := range n {
		r := mkReading(fmt.Sprintf("bench-%d", i%20), uint64(1000+i))
		r.ID = uuid.NewString() // random, as EdgeX's ids are: they do not compress
		v, err := reading.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		data.Write(chunkLine(r.Device, v))
	}
	return data.Bytes()
}

// Packing keeps the data as it was, whatever its size, and an unknown encoding is an
// error, not data.
func TestPackChunk(t *testing.T) {
	for _, n := range []int{0, 1, 400, 2000} {
		data := chunkOf(t, n)
		enc, stored := packChunk(data)
		got, err := unpackChunk(enc, stored)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%d readings: unpacked %d bytes of %d, %v", n, len(got), len(data), err)
		}
	}
	if _, err := unpackChunk("lz4", []byte("x")); err == nil {
		t.Error("unpackChunk with an unknown encoding gave no error")
	}
	if _, err := unpackChunk(encZstd, []byte("not zstd")); err == nil {
		t.Error("unpackChunk of corrupt data gave no error")
	}
}

// BenchmarkInsertChunk stores a chunk of 400 readings (200 two-reading events, one
// group commit at 200 devices back to back) into FerretDB as it was stored before,
// plain, and packed, in one run; the packed one's time includes compressing it.
// bytes/chunk is what FerretDB is given.
func BenchmarkInsertChunk(b *testing.B) {
	client := servertest.MongoClient(b)
	data := chunkOf(b, 400)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		pack func([]byte) (string, []byte)
	}{
		{"plain", func(d []byte) (string, []byte) { return "", d }},
		{"zstd", packChunk},
	} {
		b.Run(c.name, func(b *testing.B) {
			coll := client.Database("insert_bench").Collection(c.name + "-" + uuid.NewString())
			var order int64
			var stored int
			for b.Loop() {
				order++
				doc := chunkDoc{ID: chunkID(order), Order: order, Stored: time.Now(), Count: 400}
				doc.Enc, doc.Data = c.pack(data)
				stored = len(doc.Data)
				if _, err := coll.InsertOne(ctx, doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(stored), "bytes/chunk")
		})
	}
}

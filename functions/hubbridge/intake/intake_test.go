package intake

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartx-team/overcloud/functions/hubbridge/internal/outboxtest"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// Accept against a real outbox: good readings stored with numbers from the outbox,
// bad ones counted, a repeat is answered as stored.
func TestAccept(t *testing.T) {
	ob := outboxtest.Running(t, servertest.MongoClient(t).Database("intake_test"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	reg := prometheus.NewRegistry()
	limits, _ := ParseLimits(DefaultLimits)
	in, err := New(Options{Store: ob, Limits: limits, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ev := event(
		simple("temperature", common.ValueTypeFloat64, "21"),
		simple("humidity", common.ValueTypeFloat64, "140"),
		simple("cpu", common.ValueTypeFloat64, "12"),
	)
	ev.Readings[2].Id = "r-cpu"
	res, err := in.Accept(ctx, ev, "sector-1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 2 || len(res.Rejected) != 1 || !strings.Contains(res.Message(), "stored 2 of 3") || !strings.Contains(res.Message(), "out_of_range") {
		t.Errorf("result %+v, message %q", res, res.Message())
	}
	res, err = in.Accept(ctx, ev, "sector-1")
	if err != nil || res.Stored != 0 || res.Duplicates != 2 {
		t.Errorf("repeat: %+v, %v; want 2 duplicates", res, err)
	}
	if got := testutil.ToFloat64(in.rejected.WithLabelValues(string(ReasonOutOfRange))); got != 2 {
		t.Errorf("out_of_range counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(in.received); got != 4 {
		t.Errorf("received %v, want 4", got)
	}
	chunks, err := ob.Pending(ctx, 100)
	if err != nil || len(chunks) != 1 {
		t.Fatalf("pending %d chunks, %v", len(chunks), err)
	}
	recs, _ := chunks[0].Records()
	var seqs []uint64
	for _, rec := range recs {
		r, err := reading.Decode(rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.Seq)
	}
	if len(seqs) != 2 || seqs[0] == 0 || seqs[1] != seqs[0]+1 {
		t.Errorf("stored %q; want two consecutive seqs numbered by the outbox", recs)
	}

	all := event(simple("temperature", common.ValueTypeString, "warm"))
	res, err = in.Accept(ctx, all, "")
	if err != nil || res.Accepted() != 0 || !strings.HasPrefix(res.Message(), "no reading stored") {
		t.Errorf("all rejected: %+v, %v, %q", res, err, res.Message())
	}
}

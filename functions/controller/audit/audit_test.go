package audit_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/audit"
	"github.com/smartx-team/overcloud/functions/controller/policy"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

func f(v float64) *float64 { return &v }

// On a real MongoDB-protocol server (FerretDB): entries come back as recorded, newest
// first, selected by device, time and count; overrides are saved, replaced, read back
// and deleted.
func TestStoreRoundTrip(t *testing.T) {
	client := servertest.MongoClient(t)
	s := audit.New(client, audit.Options{Database: "ctl_test"})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes twice: %v", err)
	}

	t0 := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)
	until := t0.Add(2 * time.Hour)
	want := []audit.Entry{
		{Time: t0, Device: "pi-1", Actor: audit.ActorController, Action: audit.ActionAuto, Old: f(24), New: f(25),
			Reason:     "model predicts 26.0 C at 25 C",
			Prediction: &audit.Prediction{Setpoint: 25, Temperature: 26, Humidity: f(50)},
			Limits:     &audit.Limits{TempLimit: 27, Margin: 1, RHMin: 20, RHMax: 80}, ModelVersion: 3, Applied: true},
		{Time: t0.Add(time.Minute), Device: "pi-2", Actor: audit.ActorController, Action: audit.ActionFallback, Old: f(26), New: f(25),
			Reason: "fallback (inference_down)", Error: "core-command: unavailable", Applied: false},
		{Time: t0.Add(2 * time.Minute), Device: "pi-1", Actor: audit.Manual("kim"), Action: audit.ActionManual, Old: f(25), New: f(22),
			Reason: "maintenance", Until: &until, Applied: true, DryRun: true},
		{Time: t0.Add(3 * time.Minute), Device: "pi-1", Actor: audit.Manual("lee"), Action: audit.ActionCancel, Reason: "done"},
	}
	for i, e := range want {
		got, err := s.Record(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == "" || !got.Time.Equal(e.Time.Truncate(time.Millisecond)) {
			t.Errorf("Record returned %+v", got)
		}
		want[i] = got
	}
	if _, err := s.Record(ctx, audit.Entry{Device: "pi-1"}); err == nil {
		t.Error("an entry without actor and action was recorded")
	}

	list := func(q audit.Query) []audit.Entry {
		t.Helper()
		got, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tt := range []struct {
		name string
		q    audit.Query
		want []int // indexes into want, newest first
	}{
		{"all", audit.Query{}, []int{3, 2, 1, 0}},
		{"one device", audit.Query{Device: "pi-1"}, []int{3, 2, 0}},
		{"since", audit.Query{Since: t0.Add(time.Minute)}, []int{3, 2, 1}},
		{"limit", audit.Query{Device: "pi-1", Limit: 2}, []int{3, 2}},
		{"device and since", audit.Query{Device: "pi-2", Since: t0.Add(time.Minute)}, []int{1}},
		{"nothing", audit.Query{Device: "pi-9"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := list(tt.q)
			if len(got) != len(tt.want) {
				t.Fatalf("%d entries, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, j := range tt.want {
				if !reflect.DeepEqual(got[i], want[j]) {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], want[j])
				}
			}
		})
	}

	// Overrides.
	o := policy.Override{Setpoint: 22, User: "kim", Reason: "maintenance", Since: t0, Until: until}
	if err := s.SaveOverride(ctx, "pi-1", o); err != nil {
		t.Fatal(err)
	}
	o2 := o
	o2.Setpoint, o2.User = 21, "lee"
	if err := s.SaveOverride(ctx, "pi-1", o2); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveOverride(ctx, "pi-2", o); err != nil {
		t.Fatal(err)
	}
	got, err := s.Overrides(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms := func(o policy.Override) policy.Override {
		o.Since, o.Until = o.Since.Truncate(time.Millisecond), o.Until.Truncate(time.Millisecond)
		return o
	}
	o2, wantPi2 := ms(o2), ms(o)
	if len(got) != 2 || !reflect.DeepEqual(got["pi-1"], o2) || !reflect.DeepEqual(got["pi-2"], wantPi2) {
		t.Errorf("Overrides = %+v", got)
	}
	if err := s.DeleteOverride(ctx, "pi-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOverride(ctx, "pi-1"); err != nil {
		t.Errorf("deleting what is gone: %v", err)
	}
	if got, err := s.Overrides(ctx); err != nil || len(got) != 1 || got["pi-2"].User != "kim" {
		t.Errorf("after delete: %+v %v", got, err)
	}

	// A new store on the same database (a restart) sees the same.
	again := audit.New(client, audit.Options{Database: "ctl_test"})
	if got, err := again.Overrides(ctx); err != nil || len(got) != 1 {
		t.Errorf("after a restart: %+v %v", got, err)
	}
	if got, err := again.List(ctx, audit.Query{Limit: 1}); err != nil || len(got) != 1 || got[0].ID != want[3].ID {
		t.Errorf("after a restart: %+v %v", got, err)
	}
}

package main

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkProfile fails t unless file is a CPU profile: gzipped, as Go writes them, and
// not empty.
func checkProfile(t *testing.T, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err == nil {
		var n int64
		n, err = io.Copy(io.Discard, zr)
		if err == nil && n == 0 {
			err = errors.New("empty")
		}
	}
	if err != nil {
		t.Errorf("CPU profile %s: %v", file, err)
	}
}

// The two ingest rows under the same plain EdgeX load: the hub's, and real EdgeX
// 4.0.2's (devices registered in core-metadata, events posted to core-data and stored
// in PostgreSQL, counted back through core-data); then core-data's row is compared.
func TestIngestRows(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the data path and EdgeX's core services")
	}
	c := config{burst: 8, duration: 3 * time.Second, dir: t.TempDir(), profileDir: t.TempDir()}
	say := func(format string, a ...any) { t.Logf(format, a...) }
	hub, err := hubIngestPlain(context.Background(), c, say)
	if err != nil {
		t.Fatal(err)
	}
	// -profile: the hub's row left a CPU profile.
	checkProfile(t, filepath.Join(c.profileDir, "hub-ingest-alone-no-seq-tags.pprof"))
	core, err := coreDataIngest(context.Background(), c, say)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(core.note, "not measured") {
		t.Skip(core.note)
	}
	for _, r := range []struct {
		row
		db string
	}{{hub, "FerretDB"}, {core, "PostgreSQL"}} {
		if !(r.stored > 0) || !(r.cpuPerReading > 0) {
			t.Errorf("%s: %+v; want readings/s and CPU per reading above 0", r.name, r)
		}
		for _, want := range []string{"8 devices back to back", "events/s", "CPU ms per 1,000 readings", r.db + " ", "load generator "} {
			if !strings.Contains(r.note, want) {
				t.Errorf("%s: note %q does not say %q", r.name, r.note, want)
			}
		}
		if strings.Contains(r.note, "unknown") {
			t.Errorf("%s: note %q has a CPU figure it could not read", r.name, r.note)
		}
	}
	rows := []row{hub, core}
	compareIngest(rows)
	if !strings.Contains(rows[1].note, "the hub's ingest is ") {
		t.Errorf("core-data's note %q has no comparison", rows[1].note)
	}
}

// A process tree's CPU counts its children, running and exited, as well as itself.
func TestTreeCPUSecondsCountsChildren(t *testing.T) {
	self := os.Getpid()
	before := cpuSeconds(self)
	child := exec.Command("sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exec sleep 30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _, _ = child.Process.Wait() }()
	childCPU := 0.0
	for deadline := time.Now().Add(20 * time.Second); childCPU < 0.05; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the child used only %.2f s of CPU", childCPU)
		}
		childCPU = cpuSeconds(child.Process.Pid)
	}
	if tree := treeCPUSeconds(self); !(tree >= before+childCPU) {
		t.Errorf("with a running child: tree %.2f s, want at least %.2f s (self) + %.2f s (child)", tree, before, childCPU)
	}
	childCPU = cpuSeconds(child.Process.Pid)
	_ = child.Process.Kill()
	_, _ = child.Process.Wait()
	if tree := treeCPUSeconds(self); !(tree >= before+childCPU) {
		t.Errorf("with the child exited: tree %.2f s, want at least %.2f s (self) + %.2f s (child)", tree, before, childCPU)
	}
	if v := treeCPUSeconds(-1); !math.IsNaN(v) {
		t.Errorf("treeCPUSeconds(-1) = %v, want NaN", v)
	}
}

// Each stage alone on a real path, with Telegraf beside the sender: every row has a
// figure, and Telegraf's has stored the same backlog in points of the sender's shape
// (telegrafAlone fails otherwise).
func TestStages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the data path and Telegraf")
	}
	rows, err := stages(context.Background(), config{burst: 4, duration: 2 * time.Second, dir: t.TempDir()}, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{hubIngestRow, "relay alone (MongoDB -> Kafka)", senderRow, telegrafRow}
	if len(rows) != len(want) {
		t.Fatalf("%d rows; want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if r.name != want[i] || !(r.stored > 0) {
			t.Errorf("row %d: %+v; want %q with readings/s above 0", i, r, want[i])
		}
	}
	for _, r := range []row{rows[0], rows[2], rows[3]} {
		if !(r.cpuPerReading > 0) || !strings.Contains(r.note, "CPU ms per 1,000 readings") {
			t.Errorf("%s: CPU per reading %v, note %q; want it measured", r.name, r.cpuPerReading, r.note)
		}
	}
}

func TestComparison(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name       string
		ours, peer row
		aim        float64
		want       string
	}{
		{name: "aim met", ours: row{stored: 6000, cpuPerReading: 1e-5}, peer: row{stored: 1000, cpuPerReading: 2e-5}, aim: 5,
			want: "ours is 6.0x this, in 0.50x its CPU per reading (aim 5x with no more CPU: met)"},
		{name: "fast but more CPU", ours: row{stored: 6000, cpuPerReading: 3e-5}, peer: row{stored: 1000, cpuPerReading: 2e-5}, aim: 5,
			want: "ours is 6.0x this, in 1.50x its CPU per reading (aim 5x with no more CPU: not met)"},
		{name: "too slow", ours: row{stored: 1400, cpuPerReading: 1e-5}, peer: row{stored: 1000, cpuPerReading: 2e-5}, aim: 1.5,
			want: "ours is 1.4x this, in 0.50x its CPU per reading (aim 1.5x with no more CPU: not met)"},
		{name: "CPU unknown", ours: row{stored: 2000, cpuPerReading: nan}, peer: row{stored: 1000, cpuPerReading: 2e-5}, aim: 1.5,
			want: "ours is 2.0x this, CPU not compared (aim 1.5x with no more CPU: met)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := comparison("ours", tc.ours, tc.peer, tc.aim); got != tc.want {
				t.Errorf("comparison = %q; want %q", got, tc.want)
			}
		})
	}
}

// Each peer's row gets its comparison, only once both rows have a figure.
func TestComparePeers(t *testing.T) {
	for _, tc := range []struct {
		ours, peer string
		compare    func([]row)
		want       string
	}{
		{hubIngestPlainRow, coreDataRow, compareIngest, "n; the hub's ingest is 2.0x this, CPU not compared (aim 5x with no more CPU: not met)"},
		{senderRow, telegrafRow, compareSender, "n; the sender is 2.0x this, CPU not compared (aim 1.5x with no more CPU: met)"},
	} {
		for _, peerStored := range []float64{1000, 0, math.NaN()} {
			rows := []row{{name: "other", stored: 1}, {name: tc.ours, stored: 2000}, {name: tc.peer, stored: peerStored, note: "n"}}
			tc.compare(rows)
			want := tc.want
			if !(peerStored > 0) {
				want = "n"
			}
			if rows[2].note != want {
				t.Errorf("%s stored %v: note %q; want %q", tc.peer, peerStored, rows[2].note, want)
			}
		}
		// Without our row, nothing to compare with.
		rows := []row{{name: tc.peer, stored: 1000, note: "n"}}
		if tc.compare(rows); rows[0].note != "n" {
			t.Errorf("%s alone: note %q", tc.peer, rows[0].note)
		}
	}
}

func TestCPUSeconds(t *testing.T) {
	if got := cpuSeconds(os.Getpid()); math.IsNaN(got) || got < 0 {
		t.Fatalf("cpuSeconds(this process) = %v", got)
	}
	if got := cpuSeconds(1 << 30); !math.IsNaN(got) {
		t.Fatalf("cpuSeconds(no such process) = %v; want NaN", got)
	}
	if got := cpuPer(math.NaN(), 10); got != "CPU unknown" {
		t.Fatalf("cpuPer(NaN) = %q", got)
	}
	if got := cpuPer(0.5, 1000); got != "500 CPU ms per 1,000 readings" {
		t.Fatalf("cpuPer(0.5 s, 1,000) = %q", got)
	}
}

func TestProfileName(t *testing.T) {
	for row, want := range map[string]string{
		hubIngestPlainRow: "hub-ingest-alone-no-seq-tags.pprof",
		hubIngestRow:      "hub-ingest-alone.pprof",
		"plain":           "plain.pprof",
	} {
		if got := profileName(row); got != want {
			t.Errorf("profileName(%q) = %q, want %q", row, got, want)
		}
	}
}

// A whole-path row on the real path: readings stored, where the cores went, the hub's
// memory, and with -profile the CPU profiles of the hub and the load generator.
func TestWholePathRow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the data path")
	}
	// Long enough for one sample of the live heap (liveEvery).
	c := config{duration: liveEvery + 2*time.Second, dir: t.TempDir(), profileDir: t.TempDir()}
	r, err := wholePath(context.Background(), c, 20, time.Second, false, func(format string, a ...any) { t.Logf(format, a...) })
	if err != nil {
		t.Fatal(err)
	}
	if r.name != "whole path, 20 devices x 1 Hz" || r.offered != 40 || !(r.stored > 0) || !(r.p99 > 0) {
		t.Errorf("row %+v; want 40 readings/s offered, some stored, a p99", r)
	}
	for _, part := range []string{"hub acked ", "; settled ", " s after the warm-up; cores ", " of ", " busy: hub ", ", FerretDB ", ", Kafka ", ", sender ", ", InfluxDB ", ", load generator ", "; sender batches of ", " ms per InfluxDB write"} {
		if !strings.Contains(r.note, part) {
			t.Errorf("note %q lacks %q", r.note, part)
		}
	}
	if !regexp.MustCompile(`; hub RSS max \d+ MB, live heap max \d+ MB$`).MatchString(r.note) {
		t.Errorf("note %q lacks the hub's memory", r.note)
	}
	checkProfile(t, filepath.Join(c.profileDir, "hub-whole-path-20-devices-x-1-Hz.pprof"))
	checkProfile(t, filepath.Join(c.profileDir, "load-generator-whole-path-20-devices-x-1-Hz.pprof"))
}

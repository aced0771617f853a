package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartx-team/overcloud/functions/inference/internal/inferencetest"
	"github.com/smartx-team/overcloud/functions/model"
)

func TestMain(m *testing.M) { leakcheck.Main(m, inferencetest.Packages...) }

const name = inferencetest.Name

// fixture is a registry over a fresh base directory, with its metrics and log.
type fixture struct {
	base string
	reg  *prometheus.Registry
	log  *bytes.Buffer
	r    *Registry
}

// open makes the registry over f.base; write models there first.
func (f *fixture) open(t *testing.T) *Registry {
	t.Helper()
	f.reg, f.log = prometheus.NewRegistry(), &bytes.Buffer{}
	r, err := New(Options{Base: f.base, Logger: slog.New(slog.NewTextHandler(f.log, nil)), Registerer: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("registry log:\n%s", f.log)
		}
	})
	return r
}

func newFixture(t *testing.T) *fixture { return &fixture{base: t.TempDir()} }

// latest is the version number name serves without a version, 0 for an error.
func latest(t *testing.T, r *Registry, name string) int64 {
	t.Helper()
	m, err := r.Model(name, 0)
	if err != nil {
		return 0
	}
	return m.Version
}

func gauge(t *testing.T, reg *prometheus.Registry, metric, model string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" && l.GetValue() == model {
					if m.Gauge != nil {
						return m.GetGauge().GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1 // absent
}

func TestNewLoadsEveryModelAndVersion(t *testing.T) {
	f := newFixture(t)
	for _, v := range []int64{1, 3, 2} {
		inferencetest.Write(t, f.base, inferencetest.Baseline(name, v))
	}
	inferencetest.Write(t, f.base, inferencetest.Baseline("other", 7))
	// Neither a hidden directory, a file, a version being written nor a stray file is a model or version.
	inferencetest.Write(t, filepath.Join(f.base, ".trash"), inferencetest.Baseline(name, 9))
	for _, p := range []string{"README", name + "/notes.txt"} {
		if err := os.WriteFile(filepath.Join(f.base, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(f.base, name, ".writing-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := f.open(t)

	if got := r.Names(); !reflect.DeepEqual(got, []string{"other", name}) {
		t.Fatalf("Names() = %v", got)
	}
	for _, tt := range []struct {
		name    string
		version int64
		want    int64 // version answered; 0 for an error
		err     error
	}{
		{name, 0, 3, nil},
		{name, 1, 1, nil},
		{name, 2, 2, nil},
		{name, 3, 3, nil},
		{"other", 0, 7, nil},
		{name, 4, 0, ErrUnknownVersion},
		{name, 9, 0, ErrUnknownVersion},
		{"other", 1, 0, ErrUnknownVersion},
		{"nothing", 0, 0, ErrUnknownModel},
		{".trash", 0, 0, ErrUnknownModel},
	} {
		m, err := r.Model(tt.name, tt.version)
		switch {
		case tt.err != nil && !errors.Is(err, tt.err):
			t.Errorf("Model(%s, %d) = %v, want %v", tt.name, tt.version, err, tt.err)
		case tt.err == nil && (err != nil || m.Version != tt.want || m.Name != tt.name):
			t.Errorf("Model(%s, %d) = %+v, %v; want version %d", tt.name, tt.version, m, err, tt.want)
		}
	}
	// The model served is the one on disk.
	m, _ := r.Model(name, 2)
	if want := inferencetest.Baseline(name, 2); !reflect.DeepEqual(m, want) {
		t.Errorf("version 2 = %+v, want %+v", m, want)
	}
	if err := r.Ready(context.Background()); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if g := gauge(t, f.reg, "inference_model_version", name); g != 3 {
		t.Errorf("inference_model_version{model=%s} = %v, want 3", name, g)
	}
	if g := gauge(t, f.reg, "inference_model_versions_available", name); g != 3 {
		t.Errorf("inference_model_versions_available{model=%s} = %v, want 3", name, g)
	}
	if g := gauge(t, f.reg, "inference_model_version", "other"); g != 7 {
		t.Errorf("inference_model_version{model=other} = %v, want 7", g)
	}
}

func TestNewRefusesABadBase(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{"", filepath.Join(dir, "missing"), file} {
		if _, err := New(Options{Base: base}); err == nil {
			t.Errorf("New(%q) succeeded", base)
		}
	}
}

func TestEmptyBaseIsNotReady(t *testing.T) {
	f := newFixture(t)
	r := f.open(t)
	if err := r.Ready(context.Background()); err == nil {
		t.Fatal("Ready with no model")
	}
	inferencetest.Write(t, f.base, inferencetest.Baseline(name, 1))
	if err := r.Scan(); err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after a model arrived: %v", err)
	}
}

// A new version serves from the next scan on; the older stays requestable; a version
// whose directory goes is unloaded, and so is a model.
func TestScanFollowsTheDisk(t *testing.T) {
	f := newFixture(t)
	inferencetest.Write(t, f.base, inferencetest.Baseline(name, 1))
	r := f.open(t)
	if got := latest(t, r, name); got != 1 {
		t.Fatalf("latest %d, want 1", got)
	}
	v2 := inferencetest.Write(t, f.base, inferencetest.Baseline(name, 2))
	if latest(t, r, name) != 1 {
		t.Fatal("a new version served before a scan")
	}
	if err := r.Scan(); err != nil {
		t.Fatal(err)
	}
	if got := latest(t, r, name); got != 2 {
		t.Fatalf("latest %d after a scan, want 2", got)
	}
	if m, err := r.Model(name, 1); err != nil || m.Version != 1 {
		t.Fatalf("version 1 after version 2 arrived: %v", err)
	}
	if err := os.RemoveAll(v2); err != nil {
		t.Fatal(err)
	}
	if err := r.Scan(); err != nil {
		t.Fatal(err)
	}
	if got := latest(t, r, name); got != 1 {
		t.Fatalf("latest %d after version 2 went, want 1", got)
	}
	if _, err := r.Model(name, 2); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("version 2 after it went: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(f.base, name)); err != nil {
		t.Fatal(err)
	}
	if err := r.Scan(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Model(name, 0); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("a model after its directory went: %v", err)
	}
	if r.Ready(context.Background()) == nil {
		t.Error("ready with no model left")
	}
	if g := gauge(t, f.reg, "inference_model_version", name); g != -1 {
		t.Errorf("inference_model_version of a model gone = %v, want absent", g)
	}
	if !strings.Contains(f.log.String(), "model unloaded") {
		t.Errorf("no unload in the log:\n%s", f.log)
	}
}

// A new version that does not load is refused, logged, counted once, and shown with
// its error; the previous version keeps serving. Once fixed, it loads.
func TestBrokenNewVersionIsRefused(t *testing.T) {
	invalid := inferencetest.Baseline(name, 2)
	invalid.Steps = 0
	otherName := inferencetest.Baseline("elsewhere", 2)
	tests := []struct {
		name  string
		write func(t *testing.T, base string)
		says  string
		code  error // wrapped by the version's Err; nil: any
	}{
		{"not JSON", func(t *testing.T, base string) { inferencetest.WriteBroken(t, base, name, 2, "{not json") }, "invalid", model.ErrInvalid},
		{"empty file", func(t *testing.T, base string) { inferencetest.WriteBroken(t, base, name, 2, "") }, "invalid", model.ErrInvalid},
		{"invalid model", func(t *testing.T, base string) { inferencetest.WriteBroken(t, base, name, 2, mustJSON(t, invalid)) }, "steps 0", model.ErrInvalid},
		{"another model's", func(t *testing.T, base string) { inferencetest.WriteBroken(t, base, name, 2, mustJSON(t, otherName)) }, `holds model "elsewhere"`, model.ErrInvalid},
		{"version mismatch", func(t *testing.T, base string) {
			inferencetest.WriteBroken(t, base, name, 2, mustJSON(t, inferencetest.Baseline(name, 5)))
		}, "holds version 5", model.ErrInvalid},
		{"no model.json", func(t *testing.T, base string) {
			if err := os.MkdirAll(filepath.Join(base, name, "2"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "model.json", os.ErrNotExist},
		{"two directories of one version", func(t *testing.T, base string) {
			inferencetest.Write(t, base, inferencetest.Baseline(name, 2))
			if err := os.Rename(filepath.Join(base, name, "2"), filepath.Join(base, name, "02")); err != nil {
				t.Fatal(err)
			}
			inferencetest.Write(t, base, inferencetest.Baseline(name, 2))
		}, "both hold version 2", model.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			inferencetest.Write(t, f.base, inferencetest.Baseline(name, 1))
			r := f.open(t)
			tt.write(t, f.base)
			for range 3 { // counted once, not once per scan
				if err := r.Scan(); err != nil {
					t.Fatal(err)
				}
			}
			if got := latest(t, r, name); got != 1 {
				t.Fatalf("latest %d, want 1 still serving", got)
			}
			if _, err := r.Model(name, 2); !errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), "failed to load") {
				t.Fatalf("Model(version 2) = %v, want ErrUnknownVersion, failed to load", err)
			}
			vs, err := r.Versions(name)
			if err != nil || len(vs) != 2 || !vs[0].Available() || vs[1].Available() || vs[1].Number != 2 {
				t.Fatalf("Versions = %+v, %v", vs, err)
			}
			if !strings.Contains(vs[1].Err.Error(), tt.says) || (tt.code != nil && !errors.Is(vs[1].Err, tt.code)) {
				t.Fatalf("version 2 error %v, want it to say %q and wrap %v", vs[1].Err, tt.says, tt.code)
			}
			if n := testutil.ToFloat64(f.r.m.failures.WithLabelValues(name)); n != 1 {
				t.Errorf("inference_model_load_failures_total = %v after 3 scans, want 1", n)
			}
			if n := strings.Count(f.log.String(), "model version refused"); n != 1 {
				t.Errorf("the refusal is logged %d times, want once:\n%s", n, f.log)
			}
			if g := gauge(t, f.reg, "inference_model_version", name); g != 1 {
				t.Errorf("inference_model_version = %v, want 1", g)
			}

			// Fixed: the good version 2 replaces the broken one and serves.
			if err := os.RemoveAll(filepath.Join(f.base, name, "02")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(f.base, name, "2")); err != nil {
				t.Fatal(err)
			}
			inferencetest.Write(t, f.base, inferencetest.Baseline(name, 2))
			if err := r.Scan(); err != nil {
				t.Fatal(err)
			}
			if got := latest(t, r, name); got != 2 {
				t.Fatalf("latest %d after the fix, want 2", got)
			}
		})
	}
}

// A model whose every version fails is listed, with the errors, but serves nothing.
func TestModelWithoutGoodVersion(t *testing.T) {
	f := newFixture(t)
	inferencetest.WriteBroken(t, f.base, name, 1, "[]")
	r := f.open(t)
	if _, err := r.Model(name, 0); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("Model = %v, want ErrUnknownVersion", err)
	}
	if vs, err := r.Versions(name); err != nil || len(vs) != 1 || vs[0].Err == nil {
		t.Fatalf("Versions = %+v, %v", vs, err)
	}
	if r.Ready(context.Background()) == nil {
		t.Fatal("ready with no version loaded")
	}
}

// A loaded version whose model.json is overwritten with something broken keeps
// serving its loaded copy; overwritten with a good model, it serves the new one.
func TestChangedLoadedVersion(t *testing.T) {
	f := newFixture(t)
	dir := inferencetest.Write(t, f.base, inferencetest.Baseline(name, 1))
	r := f.open(t)
	before, _ := r.Model(name, 1)
	path := filepath.Join(dir, model.ModelFile)
	if err := os.WriteFile(path, []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Scan(); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Model(name, 1); err != nil || m != before {
		t.Fatalf("after a broken overwrite: %p %v, want the loaded copy %p", m, err, before)
	}
	if n := testutil.ToFloat64(f.r.m.failures.WithLabelValues(name)); n != 1 {
		t.Errorf("load failures %v, want 1", n)
	}
	changed := inferencetest.Baseline(name, 1)
	changed.Bias[0] = 99
	if err := os.WriteFile(path, []byte(mustJSON(t, changed)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Make sure the stamp differs even on a coarse clock.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if err := r.Scan(); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Model(name, 1); err != nil || m.Bias[0] != 99 {
		t.Fatalf("after a good overwrite: %+v %v, want bias 99", m, err)
	}
}

// When the base cannot be read, nothing changes.
func TestUnreadableBaseKeepsTheModels(t *testing.T) {
	f := newFixture(t)
	f.base = filepath.Join(f.base, "models")
	inferencetest.Write(t, f.base, inferencetest.Baseline(name, 1))
	r := f.open(t)
	if err := os.Rename(f.base, f.base+".away"); err != nil {
		t.Fatal(err)
	}
	if err := r.Scan(); err == nil {
		t.Fatal("Scan of a missing base succeeded")
	}
	if got := latest(t, r, name); got != 1 {
		t.Fatalf("latest %d, want 1 kept", got)
	}
	if n := testutil.ToFloat64(f.r.m.scanErrs); n != 1 {
		t.Errorf("scan errors %v, want 1", n)
	}
}

// TF-Serving's version directories may have leading zeros.
func TestLeadingZeros(t *testing.T) {
	f := newFixture(t)
	inferencetest.Write(t, f.base, inferencetest.Baseline(name, 123))
	if err := os.Rename(filepath.Join(f.base, name, "123"), filepath.Join(f.base, name, "00000123")); err != nil {
		t.Fatal(err)
	}
	r := f.open(t)
	if m, err := r.Model(name, 123); err != nil || m.Version != 123 {
		t.Fatalf("Model(123) = %v", err)
	}
}

// A symbolic link to a model directory is a model.
func TestLinkedModel(t *testing.T) {
	f := newFixture(t)
	elsewhere := t.TempDir()
	inferencetest.Write(t, elsewhere, inferencetest.Baseline(name, 1))
	if err := os.Symlink(filepath.Join(elsewhere, name), filepath.Join(f.base, name)); err != nil {
		t.Fatal(err)
	}
	r := f.open(t)
	if got := latest(t, r, name); got != 1 {
		t.Fatalf("latest of a linked model %d, want 1", got)
	}
}

// Run scans until its context ends; lookups never wait for a scan (run with -race).
func TestRunPollsAndStops(t *testing.T) {
	f := newFixture(t)
	inferencetest.Write(t, f.base, inferencetest.Baseline(name, 1))
	r, err := New(Options{Base: f.base, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var readers sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r.Model(name, 0); err != nil {
					t.Error(err)
					return
				}
				_, _ = r.Versions(name)
			}
		})
	}
	inferencetest.Write(t, f.base, inferencetest.Baseline(name, 2))
	deadline := time.Now().Add(10 * time.Second)
	for latest(t, r, name) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("version 2 not served after 10 s of polling every 10 ms")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	readers.Wait()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func mustJSON(t *testing.T, m *model.Model) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

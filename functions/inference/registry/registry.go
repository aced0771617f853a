// Package registry keeps the models that inference serves: every model directory
// under a base directory, in TF-Serving's layout <base>/<name>/<version>/model.json
// (see package model), every valid version of each, re-read by polling so that a new
// version serves without a restart.
//
// What a scan does:
//
//   - Each directory under the base whose name does not start with "." is a model;
//     each of its directories named by a positive integer is a version, as
//     model.Versions reads them (leading zeros allowed, as TF-Serving allows them).
//   - A version is loaded with model.Load and must name the model of its directory.
//     A version that fails is refused: logged once, counted in
//     inference_model_load_failures_total, shown in the model's status with its error,
//     and tried again when its model.json changes (size or modification time).
//   - A version once loaded keeps serving while its directory is there: if its
//     model.json changes, it is loaded again, and if that fails the loaded one stays.
//   - The latest version of a model is its highest loaded one, so a broken new version
//     leaves the previous one serving. Older loaded versions stay requestable by
//     number while they are on disk.
//   - A version or model whose directory is gone is unloaded. When the base or a
//     model's directory cannot be read at all, what was loaded from it stays.
//
// A Registry is safe for concurrent use: lookups read an immutable snapshot that each
// scan replaces whole, so they never wait for a scan.
package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/model"
)

// DefaultPoll is how often Run scans the base directory unless Options.Poll says.
const DefaultPoll = 10 * time.Second

// Lookup errors; both are wrapped with the name (and version) asked for.
var (
	ErrUnknownModel   = errors.New("unknown model")
	ErrUnknownVersion = errors.New("unknown version")
)

// Options configure a Registry.
type Options struct {
	// Base is the directory holding one directory per model. Required.
	Base string
	// Poll is how often Run scans Base (default DefaultPoll).
	Poll time.Duration
	// Logger receives loads, refusals and unloads (default: discard).
	Logger *slog.Logger
	// Registerer takes the metrics (default: a private registry).
	Registerer prometheus.Registerer
}

// Version is one version of a model as the last scan found it.
type Version struct {
	Number int64
	// Model is the loaded model, nil when this version failed to load.
	Model *model.Model
	// Err is why the version failed to load (nil when Model is set). A version that
	// serves while a newer copy of its file fails keeps Model and Err nil.
	Err error

	stamp stamp // of the model.json last tried
}

// Available reports whether the version serves.
func (v Version) Available() bool { return v.Model != nil }

// stamp identifies the content of a model.json without reading it.
type stamp struct {
	size    int64
	modTime time.Time
	missing bool
	clash   string // two directories of one version: the error
}

// entry is one model: its versions ascending, and the latest loaded one.
type entry struct {
	versions []*Version
	latest   *Version // nil when none loaded
}

type snapshot struct {
	models map[string]*entry
}

// Registry loads and serves models; see the package doc.
type Registry struct {
	base string
	poll time.Duration
	log  *slog.Logger
	m    *metrics

	scanMu sync.Mutex // one scan at a time
	snap   atomic.Pointer[snapshot]
}

type metrics struct {
	version   *prometheus.GaugeVec
	available *prometheus.GaugeVec
	failures  *prometheus.CounterVec
	scans     prometheus.Counter
	scanErrs  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "inference_model_version", Help: "Latest loaded version of each model: the one a request without a version gets.",
		}, []string{"model"}),
		available: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "inference_model_versions_available", Help: "Loaded versions of each model, each requestable by number.",
		}, []string{"model"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inference_model_load_failures_total", Help: "Model versions refused because they failed to load, counted once per content of their model.json.",
		}, []string{"model"}),
		scans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "inference_model_scans_total", Help: "Scans of the model base directory.",
		}),
		scanErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "inference_model_scan_errors_total", Help: "Scans that could not read the base directory or a model directory; what was loaded stays.",
		}),
	}
	for _, c := range []prometheus.Collector{m.version, m.available, m.failures, m.scans, m.scanErrs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register the registry metrics: %w", err)
		}
	}
	return m, nil
}

// New makes a registry of the models under opts.Base and scans it once, so that the
// models there serve at once. It fails when Base is not a readable directory; an
// empty one is fine (nothing serves until a model appears).
func New(opts Options) (*Registry, error) {
	if opts.Base == "" {
		return nil, errors.New("registry: no base directory")
	}
	st, err := os.Stat(opts.Base)
	if err != nil {
		return nil, fmt.Errorf("registry: model base: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("registry: model base %s is not a directory", opts.Base)
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	r := &Registry{base: opts.Base, poll: opts.Poll, log: opts.Logger, m: m}
	r.snap.Store(&snapshot{models: map[string]*entry{}})
	if err := r.Scan(); err != nil {
		return nil, err
	}
	return r, nil
}

// Run scans the base directory every Poll until ctx ends, then returns nil.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = r.Scan() // logged and counted; what was loaded stays
		}
	}
}

// Scan reads the base directory once and replaces the models served with what it
// found (see the package doc). It returns an error only when the base directory
// cannot be read, in which case nothing changes.
func (r *Registry) Scan() error {
	r.scanMu.Lock()
	defer r.scanMu.Unlock()
	r.m.scans.Inc()
	old := r.snap.Load()
	entries, err := os.ReadDir(r.base)
	if err != nil {
		r.m.scanErrs.Inc()
		r.log.Error("cannot read the model base; keeping the models loaded", "base", r.base, "err", err)
		return fmt.Errorf("registry: read model base: %w", err)
	}
	next := &snapshot{models: map[string]*entry{}}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !r.isDir(e) {
			continue
		}
		ent, err := r.scanModel(name, old.models[name])
		if err != nil {
			r.m.scanErrs.Inc()
			if prev := old.models[name]; prev != nil {
				next.models[name] = prev
				r.log.Error("cannot read a model directory; keeping its versions loaded", "model", name, "err", err)
			} else {
				r.log.Error("cannot read a model directory", "model", name, "err", err)
			}
			continue
		}
		if len(ent.versions) > 0 {
			next.models[name] = ent
		}
	}
	for name, prev := range old.models {
		if _, ok := next.models[name]; !ok {
			if prev.latest != nil {
				r.log.Info("model unloaded: its directory is gone", "model", name)
			}
			r.m.version.DeleteLabelValues(name)
			r.m.available.DeleteLabelValues(name)
		}
	}
	for name, ent := range next.models {
		n := 0
		for _, v := range ent.versions {
			if v.Available() {
				n++
			}
		}
		r.m.available.WithLabelValues(name).Set(float64(n))
		if ent.latest != nil {
			r.m.version.WithLabelValues(name).Set(float64(ent.latest.Number))
		} else {
			r.m.version.DeleteLabelValues(name)
		}
	}
	r.snap.Store(next)
	return nil
}

// isDir reports whether e is a directory or a link to one.
func (r *Registry) isDir(e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	st, err := os.Stat(filepath.Join(r.base, e.Name()))
	return err == nil && st.IsDir()
}

// scanModel reads the versions of one model, reusing what prev (nil for a new
// model) holds for a version whose model.json has not changed.
func (r *Registry) scanModel(name string, prev *entry) (*entry, error) {
	dirs, err := versionDirs(filepath.Join(r.base, name))
	if err != nil {
		return nil, err
	}
	was := map[int64]*Version{}
	if prev != nil {
		for _, v := range prev.versions {
			was[v.Number] = v
		}
	}
	ent := &entry{}
	for _, d := range dirs {
		n := d.number
		var v *Version
		if d.clash != "" {
			v = r.refuse(name, n, was[n], fmt.Errorf("%w: directories %s and %s both hold version %d", model.ErrInvalid, d.clash, d.name, n))
		} else {
			v = r.scanVersion(name, d.name, n, was[n])
		}
		ent.versions = append(ent.versions, v)
		if v.Available() {
			ent.latest = v
		}
		delete(was, n)
	}
	for n, v := range was {
		if v.Available() {
			r.log.Info("model version unloaded: its directory is gone", "model", name, "version", n)
		}
	}
	if prevLatest, latest := latestNumber(prev), latestNumber(ent); prevLatest != latest && latest != 0 {
		r.log.Info("model serves a new latest version", "model", name, "version", latest, "previous", prevLatest)
	}
	return ent, nil
}

func latestNumber(e *entry) int64 {
	if e == nil || e.latest == nil {
		return 0
	}
	return e.latest.Number
}

// versionDir is a directory of a version: named by a positive integer, as
// model.Versions reads them, possibly with leading zeros as TF-Serving allows
// ("00000123"). clash names another directory of the same number.
type versionDir struct {
	number      int64
	name, clash string
}

// versionDirs lists the version directories of a model, ascending.
func versionDirs(dir string) ([]versionDir, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []versionDir
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if n, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && n > 0 {
			out = append(out, versionDir{number: n, name: e.Name()})
		}
	}
	slices.SortFunc(out, func(a, b versionDir) int { return cmp.Compare(a.number, b.number) })
	// Two names of one number ("1", "01"): keep one entry, refused.
	kept := out[:0]
	for _, d := range out {
		if len(kept) > 0 && kept[len(kept)-1].number == d.number {
			kept[len(kept)-1].clash = d.name
			continue
		}
		kept = append(kept, d)
	}
	return kept, nil
}

// refuse records that version n failed to load with err, once per cause.
func (r *Registry) refuse(name string, n int64, prev *Version, err error) *Version {
	st := stamp{clash: err.Error()}
	if prev != nil && prev.stamp == st {
		return prev
	}
	r.m.failures.WithLabelValues(name).Inc()
	r.log.Error("model version refused", "model", name, "version", n, "err", err)
	return &Version{Number: n, Err: err, stamp: st}
}

// scanVersion loads version n of a model from its directory dirName unless prev
// (nil if new) has seen the same model.json.
func (r *Registry) scanVersion(name, dirName string, n int64, prev *Version) *Version {
	dir := filepath.Join(r.base, name, dirName)
	st := stampOf(filepath.Join(dir, model.ModelFile))
	if prev != nil && prev.stamp == st {
		return prev
	}
	m, err := load(dir, name)
	if err == nil {
		if prev != nil && prev.Available() {
			r.log.Info("model version reloaded: its model.json changed", "model", name, "version", n)
		} else {
			r.log.Info("model version loaded", "model", name, "version", n, "steps", m.Steps, "features", m.Features, "outputs", m.Outputs)
		}
		return &Version{Number: n, Model: m, stamp: st}
	}
	r.m.failures.WithLabelValues(name).Inc()
	if prev != nil && prev.Available() {
		r.log.Error("model version changed on disk and no longer loads; the loaded copy keeps serving", "model", name, "version", n, "err", err)
		return &Version{Number: n, Model: prev.Model, stamp: st}
	}
	r.log.Error("model version refused: it does not load", "model", name, "version", n, "err", err)
	return &Version{Number: n, Err: err, stamp: st}
}

func stampOf(path string) stamp {
	st, err := os.Stat(path)
	if err != nil {
		return stamp{missing: true}
	}
	return stamp{size: st.Size(), modTime: st.ModTime()}
}

// load reads one version and checks it is of the model of its directory.
func load(dir, name string) (*model.Model, error) {
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	if m.Name != name {
		return nil, fmt.Errorf("%w: %s holds model %q, not %q", model.ErrInvalid, dir, m.Name, name)
	}
	if strings.Contains(name, ":") {
		return nil, fmt.Errorf("%w: model name %q has a ':', which ends the name in a request URL", model.ErrInvalid, name)
	}
	return m, nil
}

// Model returns the model that serves version of name: the latest loaded one for
// version 0. The error wraps ErrUnknownModel or ErrUnknownVersion. The model is
// shared and must not be changed.
func (r *Registry) Model(name string, version int64) (*model.Model, error) {
	ent := r.snap.Load().models[name]
	if ent == nil {
		return nil, fmt.Errorf("%w: no model %q", ErrUnknownModel, name)
	}
	if version == 0 {
		if ent.latest == nil {
			return nil, fmt.Errorf("%w: no version of model %q loads", ErrUnknownVersion, name)
		}
		return ent.latest.Model, nil
	}
	i, ok := slices.BinarySearchFunc(ent.versions, version, func(v *Version, n int64) int {
		return cmp.Compare(v.Number, n)
	})
	if !ok {
		return nil, fmt.Errorf("%w: no version %d of model %q", ErrUnknownVersion, version, name)
	}
	if v := ent.versions[i]; v.Available() {
		return v.Model, nil
	}
	return nil, fmt.Errorf("%w: version %d of model %q failed to load", ErrUnknownVersion, version, name)
}

// Versions returns every version of name the last scan found, loaded or not,
// ascending; the error wraps ErrUnknownModel.
func (r *Registry) Versions(name string) ([]Version, error) {
	ent := r.snap.Load().models[name]
	if ent == nil {
		return nil, fmt.Errorf("%w: no model %q", ErrUnknownModel, name)
	}
	out := make([]Version, len(ent.versions))
	for i, v := range ent.versions {
		out[i] = *v
	}
	return out, nil
}

// Names returns the names of the models found, sorted.
func (r *Registry) Names() []string {
	snap := r.snap.Load()
	names := make([]string, 0, len(snap.models))
	for n := range snap.models {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Ready reports nil once at least one version of some model is loaded.
func (r *Registry) Ready(context.Context) error {
	for _, ent := range r.snap.Load().models {
		if ent.latest != nil {
			return nil
		}
	}
	return fmt.Errorf("no model version loaded from %s", r.base)
}

package firmware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/device/actuator"
	"github.com/smartx-team/overcloud/device/config"
	"github.com/smartx-team/overcloud/device/internal/hubtest"
	"github.com/smartx-team/overcloud/functions/reading"
)

// syncBuffer is a log sink tests can read while the firmware writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t *testing.T, hubURL string) config.Config {
	t.Helper()
	c := config.Defaults()
	c.Device, c.Location, c.HubURL = "pi-test", "sector-3", hubURL
	c.Simulate, c.Sensor, c.Actuator = true, config.SensorSim, config.ActuatorSim
	c.Interval, c.RetryMin, c.RetryMax, c.HTTPTimeout = 100*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond, 2*time.Second
	c.QueuePath = filepath.Join(t.TempDir(), "q.db")
	c.CommandListen = "127.0.0.1:0"
	c.Token = "tok"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// running starts the firmware; the returned stop cancels it, waits for Run and
// checks that it returned nil and left no goroutine behind.
func running(t *testing.T, cfg config.Config, log io.Writer) (*Firmware, func()) {
	t.Helper()
	return runningWith(t, cfg, log, nil)
}

// runningWith is running with setup applied to the firmware before it runs.
func runningWith(t *testing.T, cfg config.Config, log io.Writer, setup func(*Firmware)) (*Firmware, func()) {
	t.Helper()
	before := runtime.NumGoroutine()
	f, err := New(cfg, slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(f)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines left after Run (before %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
	t.Cleanup(stop)
	return f, stop
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hubtest.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func startHub(t *testing.T, addr string) *hubtest.Hub {
	t.Helper()
	h := hubtest.New(map[string]string{"pi-test": "tok"})
	if err := h.Start(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Stop()
		for _, s := range h.Invalid() {
			t.Errorf("invalid request: %s", s)
		}
	})
	return h
}

func TestDeliversAndAppliesSetpoints(t *testing.T) {
	h := startHub(t, "127.0.0.1:0")
	var log syncBuffer
	f, stop := running(t, testConfig(t, h.URL()), &log)
	wait(t, "readings", func() bool { return len(h.Readings("pi-test")) >= 30 })

	got, err := f.ApplySetpoint(context.Background(), 19.6)
	if err != nil || got != 20 {
		t.Fatalf("ApplySetpoint(19.6) = %v, %v; want 20 (whole degrees)", got, err)
	}
	if _, err := f.ApplySetpoint(context.Background(), 40); !errors.Is(err, actuator.ErrOutOfBounds) {
		t.Errorf("ApplySetpoint(40) = %v, want ErrOutOfBounds", err)
	}
	// 20.4 rounds to the 20 in force: sent again, but no change to count or report.
	if got, err := f.ApplySetpoint(context.Background(), 20.4); err != nil || got != 20 {
		t.Fatalf("ApplySetpoint(20.4) = %v, %v; want 20", got, err)
	}
	if sp := f.room.State().SetPoint; sp != 20 {
		t.Errorf("the simulated air conditioner runs at %v, want 20", sp)
	}
	wait(t, "the set-point reading", func() bool {
		for _, r := range h.Readings("pi-test") {
			if r.Source == "setpoint" && r.Value == 20 && r.Units == "C" {
				return true
			}
		}
		return false
	})
	// The command endpoint is live on its port.
	resp, err := http.Get("http://" + f.CommandAddr() + "/api/v3/ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping: %v %v", resp, err)
	}
	resp.Body.Close()
	if m := f.Latest(); m["temperature"] == 0 || m["setpoint"] == 0 {
		t.Errorf("Latest = %v", m)
	}
	stop()
	st := f.Stats()
	if st.Delivered == 0 || st.Queued < st.Delivered || st.SetpointChanges != 1 || st.Samples == 0 {
		t.Errorf("stats %+v", st)
	}
	if n := strings.Count(log.String(), `"msg":"set-point changed"`); n != 1 {
		t.Errorf("%d set-point changes logged, want 1", n)
	}
	for _, s := range []string{`"msg":"set-point changed","from":24,"to":20`, `"msg":"set-point unchanged","setpoint":20`, `"msg":"firmware stopped"`} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log lacks %s", s)
		}
	}
	if strings.Contains(log.String(), "tok\"") {
		t.Error("the token is in the log")
	}
	for _, r := range h.Readings("pi-test") {
		if r.Location != "sector-3" {
			t.Fatalf("reading without its location: %+v", r)
		}
	}
}

// TestHubLosesRegistration: a hub that restarts without its registrations answers
// 404; the firmware registers again and goes on.
func TestHubLosesRegistration(t *testing.T) {
	h1 := startHub(t, "127.0.0.1:0")
	_, stop := running(t, testConfig(t, h1.URL()), io.Discard)
	wait(t, "readings at the first hub", func() bool { return len(h1.Readings("pi-test")) >= 12 })
	h1.Stop()
	h2 := startHub(t, strings.TrimPrefix(h1.URL(), "http://"))
	wait(t, "readings at the new hub", func() bool { return len(h2.Readings("pi-test")) >= 12 })
	stop()
	if n := h2.Counts().Devices["pi-test"]; n != 1 {
		t.Errorf("registered %d times with the new hub", n)
	}
	// No reading is lost across the two hubs.
	all := append(h1.Readings("pi-test"), h2.Readings("pi-test")...)
	for i, r := range all {
		if r.Seq != uint64(i+1) {
			t.Fatalf("reading %d has seq %d", i+1, r.Seq)
		}
	}
}

func TestQueueFullDropsOldestAndCounts(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1") // nothing listens there
	cfg.QueueMax = 20
	var log syncBuffer
	f, stop := running(t, cfg, &log)
	wait(t, "drops", func() bool { return f.Stats().Dropped > 0 })
	stop()
	st := f.Stats()
	if st.Backlog > 20 || st.Delivered != 0 || st.SendFailures == 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(log.String(), "queue full: oldest readings dropped") {
		t.Error("drops not logged")
	}
}

// TestHubRejectionDropsOnlyThatEvent: an event the hub refuses for good (400) is
// dropped and counted; the ones after it still go.
func TestHubRejectionDropsOnlyThatEvent(t *testing.T) {
	var events atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v3/event/") {
			if events.Add(1) == 1 {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.WriteHeader(http.StatusMultiStatus)
		fmt.Fprint(w, `[{"statusCode":201}]`)
	}))
	defer srv.Close()
	f, stop := running(t, testConfig(t, srv.URL), io.Discard)
	wait(t, "deliveries after the rejection", func() bool { return f.Stats().Delivered >= 12 })
	stop()
	if st := f.Stats(); st.RejectedByHub == 0 || st.RejectedByHub > 6 {
		t.Errorf("rejected %d readings, want one event's", st.RejectedByHub)
	}
}

// TestHonoursRetryAfter: a hub shedding load (503 + Retry-After) is left alone for
// as long as it asked, not for the far shorter backoff, and the backoff is back for
// an answer without Retry-After. The refused event is the next one sent, so no
// reading is lost or reordered.
func TestHonoursRetryAfter(t *testing.T) {
	type posted struct {
		id       string
		seq      float64 // of the first reading
		readings int
	}
	var (
		mu     sync.Mutex
		events []posted
		waits  []time.Duration
	)
	sheds := []string{"3", "3", ""} // the Retry-After of the first answers, all 503
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v3/event/") {
			w.WriteHeader(http.StatusMultiStatus)
			fmt.Fprint(w, `[{"statusCode":201}]`)
			return
		}
		var req struct {
			Event struct {
				ID       string            `json:"id"`
				Tags     map[string]any    `json:"tags"`
				Readings []json.RawMessage `json:"readings"`
			} `json:"event"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		seq, _ := req.Event.Tags[reading.TagSeq].(float64)
		mu.Lock()
		n := len(events)
		events = append(events, posted{req.Event.ID, seq, len(req.Event.Readings)})
		mu.Unlock()
		if n < len(sheds) {
			if sheds[n] != "" {
				w.Header().Set("Retry-After", sheds[n])
			}
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	var log syncBuffer
	f, stop := runningWith(t, testConfig(t, srv.URL), &log, func(f *Firmware) {
		f.pause = func(ctx context.Context, d time.Duration) bool {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err() == nil
		}
	})
	wait(t, "deliveries after the hub recovered", func() bool { return f.Stats().Delivered >= 12 })
	stop()

	mu.Lock()
	defer mu.Unlock()
	// retry-min 20ms, retry-max 200ms: no backoff comes near 3s.
	if len(waits) != 3 || waits[0] != 3*time.Second || waits[1] != 3*time.Second || waits[2] <= 0 || waits[2] >= time.Second {
		t.Errorf("waits %v, want [3s 3s <1s]", waits)
	}
	if len(events) <= len(sheds)+1 {
		t.Fatalf("only %d posts", len(events))
	}
	for i, e := range events[1 : len(sheds)+1] {
		if e != events[0] {
			t.Fatalf("post %d was %+v, not the refused event %+v again", i+2, e, events[0])
		}
	}
	for i := len(sheds) + 1; i < len(events); i++ {
		if want := events[i-1].seq + float64(events[i-1].readings); events[i].seq != want {
			t.Fatalf("post %d starts at seq %v, want %v", i+1, events[i].seq, want)
		}
	}
	if events[0].seq != 1 {
		t.Errorf("first event has seq %v, want 1", events[0].seq)
	}
	if st := f.Stats(); st.SendFailures != 3 || st.RejectedByHub != 0 {
		t.Errorf("stats %+v", st)
	}
	out := log.String()
	if n := strings.Count(out, `"msg":"hub is shedding load; retrying after`); n != 1 {
		t.Errorf("shedding logged %d times, want once:\n%s", n, out)
	}
	for _, s := range []string{`"retry_after":"3s","retry_in":"3s"`, `"msg":"hub reachable again; backlog delivered"`} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %s", s)
		}
	}
	if strings.Contains(out, "hub unreachable or refusing") {
		t.Error("a shedding hub was logged as unreachable too")
	}
}

func TestNoActuatorRefusesSetpoints(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1")
	cfg.Actuator = config.ActuatorNone
	f, stop := running(t, cfg, io.Discard)
	if _, err := f.ApplySetpoint(context.Background(), 22); !errors.Is(err, actuator.ErrNoActuator) {
		t.Errorf("ApplySetpoint = %v, want ErrNoActuator", err)
	}
	stop()
	if st := f.Stats(); st.SetpointErrors != 1 || st.SetpointChanges != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestStartFailures(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cfg := testConfig(t, "http://127.0.0.1:1")
	f, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	// The queue file is taken: a second firmware on it must not start.
	cfg2 := cfg
	cfg2.CommandListen = ""
	if _, err := New(cfg2, log); err == nil {
		t.Error("two firmwares on one queue file")
	}
	f.Close()
	cfg3 := testConfig(t, "http://127.0.0.1:1")
	cfg3.Sensor = config.SensorIIO
	cfg3.IIODevice = t.TempDir()
	if _, err := New(cfg3, log); err == nil {
		t.Error("an IIO directory without inputs was accepted")
	}
}

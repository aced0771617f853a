package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/device/edgex"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// edgexCheck is the narrowest fake of the hub: it decodes every request with EdgeX's
// own DTO types and validation, fails the first failEvents event posts with 503, and
// records the reading ids of accepted events in arrival order.
type edgexCheck struct {
	t          *testing.T
	failEvents int
	noSeq      bool // events must come without a seq tag

	mu       sync.Mutex
	accepted map[string][]string // device -> reading ids, in order
	seen     map[string]bool     // reading ids of failed posts, to check retries reuse them
	failed   int
}

func (e *edgexCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fail := func(format string, args ...any) {
		e.t.Errorf("%s %s: %s", r.Method, r.URL.Path, fmt.Sprintf(format, args...))
		http.Error(w, "bad", http.StatusBadRequest)
	}
	switch {
	case r.URL.Path == "/api/v3/deviceprofile":
		var reqs []requests.DeviceProfileRequest
		if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) != 1 || reqs[0].Validate() != nil {
			fail("invalid profile request: %v %s", err, body)
			return
		}
	case r.URL.Path == "/api/v3/deviceservice":
		var reqs []requests.AddDeviceServiceRequest
		if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) != 1 || reqs[0].Validate() != nil {
			fail("invalid service request: %v %s", err, body)
			return
		}
	case r.URL.Path == "/api/v3/device":
		var reqs []requests.AddDeviceRequest
		if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) != 1 || reqs[0].Validate() != nil {
			fail("invalid device request: %v %s", err, body)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer tok-"+reqs[0].Device.Name {
			fail("device %s sent Authorization %q", reqs[0].Device.Name, got)
			return
		}
	case strings.HasPrefix(r.URL.Path, "/api/v3/event/"):
		var req requests.AddEventRequest
		if err := json.Unmarshal(body, &req); err != nil {
			fail("event does not decode: %v", err)
			return
		}
		if err := req.Validate(); err != nil {
			fail("event fails EdgeX validation: %v", err)
			return
		}
		want := fmt.Sprintf("/api/v3/event/%s/%s/%s/%s", ServiceName, ProfileName, req.Event.DeviceName, SourceName)
		if r.URL.Path != want {
			fail("path %s, want %s", r.URL.Path, want)
			return
		}
		for _, rd := range req.Event.Readings {
			if len(rd.Tags) > 0 {
				fail("reading %s has tags %v: core-data would add a device_info row per reading", rd.Id, rd.Tags)
				return
			}
		}
		if _, has := req.Event.Tags[reading.TagSeq]; has == e.noSeq {
			fail("event tags %v: seq tag present %v, want %v", req.Event.Tags, has, !e.noSeq)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.failed < e.failEvents {
			e.failed++
			for _, rd := range req.Event.Readings {
				e.seen[rd.Id] = true
			}
			http.Error(w, `{"message":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		for _, rd := range req.Event.Readings {
			e.accepted[req.Event.DeviceName] = append(e.accepted[req.Event.DeviceName], rd.Id)
		}
		w.WriteHeader(http.StatusCreated)
		return
	default:
		fail("unexpected request")
		return
	}
	w.WriteHeader(http.StatusMultiStatus)
	_, _ = w.Write([]byte(`[{"apiVersion":"v3","statusCode":201}]`))
}

func TestFleetRegistersPostsAndRetriesInOrder(t *testing.T) {
	check := &edgexCheck{t: t, failEvents: 6, accepted: map[string][]string{}, seen: map[string]bool{}}
	srv := httptest.NewServer(check)
	t.Cleanup(srv.Close)

	tokens := map[string]string{}
	for i := range 3 {
		tokens[fmt.Sprintf("sim-%d", i)] = fmt.Sprintf("tok-sim-%d", i)
	}
	f, err := New(Options{HubURL: srv.URL, Devices: 3, Interval: 20 * time.Millisecond, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.Register(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	servertest.WaitFor(t, "60 readings acknowledged", func() bool { return f.Stats().AckedReadings >= 60 })
	cancel()
	waitRun(t, done)

	dctx, stopDrain := context.WithTimeout(context.Background(), servertest.WaitTimeout)
	defer stopDrain()
	if err := f.Drain(dctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if f.Pending() != 0 {
		t.Fatalf("Pending() = %d after Drain", f.Pending())
	}
	acked := f.Acked()
	check.mu.Lock()
	defer check.mu.Unlock()
	lastSeq := map[string]uint64{}
	i := map[string]int{}
	for _, s := range acked {
		if s.Seq != lastSeq[s.Device]+1 {
			t.Fatalf("%s: seq %d after %d: not consecutive", s.Device, s.Seq, lastSeq[s.Device])
		}
		lastSeq[s.Device] = s.Seq
		if got := check.accepted[s.Device][i[s.Device]]; got != s.ID {
			t.Fatalf("%s: hub accepted %s where the fleet acked %s: order broken", s.Device, got, s.ID)
		}
		i[s.Device]++
	}
	retried := 0
	for _, s := range acked {
		if check.seen[s.ID] {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no reading of a failed post was resent with its id")
	}
	st := f.Stats()
	if st.Failed != int64(check.failEvents) {
		t.Fatalf("Stats().Failed = %d, want %d", st.Failed, check.failEvents)
	}
	// Drained, the devices hold nothing: every reading made was acknowledged.
	if st.SampledReadings != st.AckedReadings || st.SampledReadings != int64(len(acked)) || st.Sampled*2 != st.SampledReadings {
		t.Fatalf("Stats() = %+v after Drain, %d acked: sampled and acked disagree", st, len(acked))
	}
}

func TestNewNeedsHubURL(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without HubURL gave no error")
	}
}

// With RackStats an event carries the firmware's six readings, each in the profile
// and each valid for EdgeX.
func TestRackStatsEvents(t *testing.T) {
	check := &edgexCheck{t: t, accepted: map[string][]string{}, seen: map[string]bool{}}
	srv := httptest.NewServer(check)
	t.Cleanup(srv.Close)
	f, err := New(Options{HubURL: srv.URL, Devices: 2, Interval: 20 * time.Millisecond, RackStats: true})
	if err != nil {
		t.Fatal(err)
	}
	ev := f.sample(f.devices[0], time.Now())
	if err := requests.NewAddEventRequest(ev).Validate(); err != nil {
		t.Fatalf("event fails EdgeX validation: %v", err)
	}
	inProfile := map[string]bool{}
	for _, r := range Profile().DeviceResources {
		inProfile[r.Name] = true
	}
	var got []string
	for _, r := range ev.Readings {
		got = append(got, r.ResourceName)
		if !inProfile[r.ResourceName] {
			t.Errorf("reading of %q, which the profile does not declare", r.ResourceName)
		}
	}
	if want := "temperature humidity setpoint cpu mem disk"; strings.Join(got, " ") != want {
		t.Errorf("event readings %v, want %s", got, want)
	}
	plain, _ := New(Options{HubURL: srv.URL, Devices: 1})
	if n := len(plain.sample(plain.devices[0], time.Now()).Readings); n != 2 {
		t.Errorf("without RackStats an event has %d readings, want 2", n)
	}
}

// A fleet of plain EdgeX clients sends no seq at all; what it reports as acknowledged
// carries none either.
func TestFleetWithoutSeq(t *testing.T) {
	check := &edgexCheck{t: t, noSeq: true, accepted: map[string][]string{}, seen: map[string]bool{}}
	srv := httptest.NewServer(check)
	t.Cleanup(srv.Close)
	tokens := map[string]string{"sim-0": "tok-sim-0", "sim-1": "tok-sim-1"}
	f, err := New(Options{HubURL: srv.URL, Devices: 2, Interval: 20 * time.Millisecond, NoSeq: true, RackStats: true, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.Register(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	servertest.WaitFor(t, "24 readings acknowledged", func() bool { return f.Stats().AckedReadings >= 24 })
	cancel()
	waitRun(t, done)
	for _, s := range f.Acked() {
		if s.Seq != 0 {
			t.Fatalf("%s: acknowledged reading with seq %d from a fleet that sends none", s.Device, s.Seq)
		}
	}
}

// waitRun waits for Run to return once its context is cancelled, and fails the test
// if it does not within servertest.WaitTimeout: a Run that hangs must fail here, not
// sit until the test binary's timeout (30 minutes) with nothing said.
func waitRun(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(servertest.WaitTimeout):
		t.Fatalf("Run did not return within %s of its context's end", servertest.WaitTimeout)
	}
}

// With ConnPerDevice each device keeps one connection of its own for all its events,
// and its posts carry its token and an EdgeX event of its own.
func TestConnPerDevice(t *testing.T) {
	const devices = 8
	tokens := map[string]string{}
	for i := range devices {
		tokens[fmt.Sprintf("sim-%d", i)] = fmt.Sprintf("token-%d", i)
	}
	var conns, closed atomic.Int64
	var mu sync.Mutex
	var bad []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req requests.AddEventRequest
		err := json.NewDecoder(r.Body).Decode(&req)
		if err == nil {
			err = req.Validate()
		}
		name := r.PathValue("device")
		if want := "Bearer " + tokens[name]; err != nil || r.Header.Get("Authorization") != want || req.Event.DeviceName != name {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("%s %s (auth %q): %v", r.Method, r.URL.Path, r.Header.Get("Authorization"), err))
			mu.Unlock()
		}
		w.WriteHeader(http.StatusCreated)
	}))
	mux := http.NewServeMux()
	mux.Handle("POST /api/v3/event/{service}/{profile}/{device}/{source}", srv.Config.Handler)
	srv.Config.Handler = mux
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f, err := New(Options{HubURL: srv.URL, Devices: devices, Interval: 20 * time.Millisecond, ConnPerDevice: true, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	servertest.WaitFor(t, "10 events per device", func() bool { return f.Stats().AckedReadings >= 2*10*devices })
	cancel()
	waitRun(t, done)
	if got := conns.Load(); got != devices {
		t.Errorf("%d connections for %d devices' 10 events each; want one each", got, devices)
	}
	f.Close()
	servertest.WaitFor(t, "Close to close every connection", func() bool { return closed.Load() == conns.Load() })
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("%d posts were not the device's own valid event with its token, first: %s", len(bad), bad[0])
	}
}

// New refuses a hub URL it cannot post to.
func TestNewChecksHubURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://127.0.0.1/", "http://", "://x"} {
		if _, err := New(Options{HubURL: u}); err == nil {
			t.Errorf("New with HubURL %q gave no error", u)
		}
	}
}

// With Backoff a device retries a failed post on its own, as the firmware does:
// after Min, doubling, never sooner than the hub's Retry-After, and without waiting
// for its next reading (the interval here is an hour).
func TestBackoffRetriesAsTheFirmwareDoes(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("ConnPerDevice=%v", own), func(t *testing.T) { testBackoff(t, own) })
	}
}

func testBackoff(t *testing.T, connPerDevice bool) {
	// Answers to the device's event posts, in turn; then 201.
	answers := []struct {
		status     int
		retryAfter string
	}{{503, ""}, {503, ""}, {429, "1"}, {503, ""}}
	var mu sync.Mutex
	var posts []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		posts = append(posts, time.Now())
		if n := len(posts); n <= len(answers) {
			if a := answers[n-1]; a.retryAfter != "" {
				w.Header().Set("Retry-After", a.retryAfter)
			}
			w.WriteHeader(answers[n-1].status)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	backoff := edgex.Backoff{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}
	f, err := New(Options{HubURL: srv.URL, Devices: 1, Interval: time.Hour, Backoff: backoff, ConnPerDevice: connPerDevice})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	servertest.WaitFor(t, "the first reading acknowledged", func() bool { return f.Stats().AckedReadings == 2 })
	cancel()
	waitRun(t, done)

	mu.Lock()
	defer mu.Unlock()
	if len(posts) != len(answers)+1 {
		t.Fatalf("%d posts, want %d: the failed ones and the one acknowledged", len(posts), len(answers)+1)
	}
	// The least wait before each retry: Min less its jitter, then doubled, then the
	// Retry-After of 1 s, then Max (capped) less its jitter.
	least := []time.Duration{40 * time.Millisecond, 80 * time.Millisecond, time.Second, 80 * time.Millisecond}
	for i, want := range least {
		if gap := posts[i+1].Sub(posts[i]); gap < want {
			t.Errorf("retry %d came %s after the failure, want at least %s", i+1, gap, want)
		}
	}
	if st := f.Stats(); st.Failed != int64(len(answers)) {
		t.Errorf("Stats().Failed = %d, want %d", st.Failed, len(answers))
	}
}

func TestNewChecksBackoff(t *testing.T) {
	for _, b := range []edgex.Backoff{{Min: -time.Second}, {Min: time.Second, Max: time.Millisecond}} {
		if _, err := New(Options{HubURL: "http://127.0.0.1:1", Backoff: b}); err == nil {
			t.Errorf("New with Backoff %+v gave no error", b)
		}
	}
	if b := FirmwareBackoff(); b.Min != time.Second || b.Max != time.Minute {
		t.Errorf("FirmwareBackoff() = %+v, want the firmware's 1s..1m", b)
	}
}

// With ForgetAcked the fleet counts what the hub acknowledged and keeps none of it;
// without, Acked has every reading counted.
func TestForgetAckedCountsWithoutKeeping(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	for _, forget := range []bool{false, true} {
		f, err := New(Options{HubURL: srv.URL, Devices: 3, Interval: 5 * time.Millisecond, ForgetAcked: forget})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		servertest.WaitFor(t, "20 readings acknowledged", func() bool { return f.Stats().AckedReadings >= 20 })
		cancel()
		waitRun(t, done)
		counted, kept := f.Stats().AckedReadings, len(f.Acked())
		if forget && kept != 0 || !forget && int64(kept) != counted {
			t.Errorf("ForgetAcked %v: %d readings counted, %d kept", forget, counted, kept)
		}
	}
}

// BenchmarkEventPost posts one device's event on its own connection with net/http's
// client and with fasthttp's (what ConnPerDevice uses), in one run, to the same server.
func BenchmarkEventPost(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	b.Cleanup(srv.Close)
	f, err := New(Options{HubURL: srv.URL, Devices: 1, ConnPerDevice: true})
	if err != nil {
		b.Fatal(err)
	}
	d := f.devices[0]
	body, err := json.Marshal(requests.NewAddEventRequest(f.sample(d, time.Now())))
	if err != nil {
		b.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = 1, 1
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		post func() (int, error)
	}{
		{"net-http", func() (int, error) {
			status, _, _, err := f.post(ctx, client, d.eventURL, "", body)
			return status, err
		}},
		{"fasthttp", func() (int, error) {
			status, _, _, err := f.postOnConn(ctx, d, body)
			return status, err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if status, err := c.post(); err != nil || status != http.StatusCreated {
					b.Fatalf("post: %d %v", status, err)
				}
			}
		})
	}
}

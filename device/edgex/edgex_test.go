package edgex

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/responses"
	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/device/internal/hubtest"
	"github.com/smartx-team/overcloud/functions/reading"
)

func startHub(t *testing.T, tokens map[string]string) *hubtest.Hub {
	t.Helper()
	h := hubtest.New(tokens)
	if err := h.Start("127.0.0.1:0"); err != nil {
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

func client(t *testing.T, url, device, token string) *Client {
	t.Helper()
	c, err := NewClient(Options{
		EventURL: url, Token: token, Service: "svc", Profile: "prof", Device: device, Location: "sector-1",
		ServiceURL: "http://127.0.0.1:59990", SetpointMin: 16, SetpointMax: 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func event(device string, seq uint64, resources ...string) Event {
	ev := Event{ID: uuid.NewString(), Source: SourceRoom, Origin: time.Now().UnixNano()}
	for _, r := range resources {
		ev.Readings = append(ev.Readings, reading.Reading{
			ID: uuid.NewString(), Device: device, Resource: r, Value: 21.5, Unit: Units[r],
			Origin: ev.Origin, Seq: seq, Location: "sector-1",
		})
		seq++
	}
	return ev
}

func TestRequestsPassEdgeXValidation(t *testing.T) {
	c := client(t, "http://x", "pi-1", "")
	p, s, d, err := c.Requests()
	if err != nil {
		t.Fatal(err)
	}
	// Round trip through JSON: what the server decodes must validate too.
	for _, v := range []any{p, s, d} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var err2 error
		switch v.(type) {
		case requests.DeviceProfileRequest:
			var r requests.DeviceProfileRequest
			err2 = json.Unmarshal(b, &r)
		case requests.AddDeviceServiceRequest:
			var r requests.AddDeviceServiceRequest
			err2 = json.Unmarshal(b, &r)
		case requests.AddDeviceRequest:
			var r requests.AddDeviceRequest
			err2 = json.Unmarshal(b, &r)
		}
		if err2 != nil {
			t.Errorf("%T does not decode and validate: %v", v, err2)
		}
	}
	if len(p.Profile.DeviceResources) != 6 || *p.Profile.DeviceResources[2].Properties.Maximum != 30 {
		t.Errorf("profile resources %+v", p.Profile.DeviceResources)
	}
	req, err := c.Request(event("pi-1", 1, ResTemperature, ResHumidity, ResSetpoint, ResCPU, ResMem, ResDisk))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(req)
	var back requests.AddEventRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("event does not decode and validate: %v", err)
	}
	// The sequence number is the event's tag; nothing unique per reading is tagged.
	if back.Event.Tags["seq"] != float64(1) || back.Event.Readings[0].Units != "C" {
		t.Errorf("event tags %v, first reading %+v: want tag seq 1 on the event and units", back.Event.Tags, back.Event.Readings[0])
	}
	for _, rd := range back.Event.Readings {
		if _, ok := rd.Tags["seq"]; ok || rd.Tags["location"] != "sector-1" {
			t.Errorf("reading %s tags %v: want only the location", rd.ResourceName, rd.Tags)
		}
	}
}

// The event's seq tag numbers its readings one by one, so the queue's numbering must
// be that; anything else is refused rather than sent wrong.
func TestRequestRefusesGappedSeqs(t *testing.T) {
	c := client(t, "http://127.0.0.1:1", "pi-1", "")
	ev := event("pi-1", 7, ResTemperature, ResHumidity)
	ev.Readings[1].Seq = 9
	if _, err := c.Request(ev); err == nil || !strings.Contains(err.Error(), "seq 9") {
		t.Errorf("Request with seqs 7, 9 = %v, want an error naming seq 9", err)
	}
}

func TestRequestRefusesMixedDevices(t *testing.T) {
	c := client(t, "http://x", "pi-1", "")
	ev := event("pi-1", 1, ResTemperature)
	ev.Readings = append(ev.Readings, event("pi-2", 2, ResHumidity).Readings...)
	if _, err := c.Request(ev); err == nil {
		t.Error("an event mixing two devices was built")
	}
	if _, err := c.Request(Event{ID: uuid.NewString(), Source: "room"}); err == nil {
		t.Error("an empty event was built")
	}
	if err := c.Send(context.Background(), Event{ID: "not-a-uuid", Source: "room", Origin: 1, Readings: event("pi-1", 1, ResCPU).Readings}); !errors.Is(err, ErrRejected) {
		t.Errorf("invalid event: err %v, want ErrRejected before any request", err)
	}
}

func TestRegisterIsIdempotent(t *testing.T) {
	h := startHub(t, map[string]string{"pi-1": "t1", "pi-2": "t2"})
	ctx := context.Background()
	for _, c := range []*Client{client(t, h.URL(), "pi-1", "t1"), client(t, h.URL(), "pi-1", "t1"), client(t, h.URL(), "pi-2", "t2")} {
		if err := c.Register(ctx); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	cn := h.Counts()
	if cn.Profiles["prof"] != 3 || cn.Devices["pi-1"] != 2 || cn.Devices["pi-2"] != 1 {
		t.Errorf("counts %+v", cn)
	}
	err := client(t, h.URL(), "pi-1", "wrong").Register(ctx)
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: %v, want ErrUnauthorized", err)
	}
}

// A Pi whose address changed (DHCP) registers again: its device service is patched to
// the new address, which core-command sends its commands to; a restart at the same
// address changes nothing.
func TestRegisterMovesTheServiceAddress(t *testing.T) {
	h := startHub(t, nil)
	ctx := context.Background()
	at := func(addr string) *Client {
		c, err := NewClient(Options{
			EventURL: h.URL(), Service: "pi-1-service", Profile: "prof", Device: "pi-1",
			ServiceURL: addr, SetpointMin: 16, SetpointMax: 30,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := at("http://10.0.0.21:59990").Register(ctx); err != nil {
		t.Fatal(err)
	}
	if err := at("http://10.0.0.21:59990").Register(ctx); err != nil {
		t.Fatal(err)
	}
	before := h.Counts().Updates
	if err := at("http://10.0.0.57:59990").Register(ctx); err != nil {
		t.Fatal(err)
	}
	svc, ok := h.Service("pi-1-service")
	if !ok || svc.BaseAddress != "http://10.0.0.57:59990" {
		t.Errorf("device service after the move: %+v (registered %v), want base address http://10.0.0.57:59990", svc, ok)
	}
	// The profile is replaced on every registration that meets it; the service only
	// when its address moved: two updates.
	if got := h.Counts().Updates - before; got != 2 {
		t.Errorf("%d updates for the move, want 2 (profile, service)", got)
	}
}

func TestSendAndRetry(t *testing.T) {
	h := startHub(t, map[string]string{"pi-1": "t1"})
	ctx := context.Background()
	c := client(t, h.URL(), "pi-1", "t1")
	ev := event("pi-1", 1, ResTemperature, ResHumidity)
	if err := c.Send(ctx, ev); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("before registering: %v, want ErrNotRegistered", err)
	}
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a retry whose first answer was lost
		if err := c.Send(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got := h.Readings("pi-1")
	if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 || got[0].Location != "sector-1" || got[0].Value != 21.5 {
		t.Fatalf("hub has %+v", got)
	}
	if h.Counts().Duplicates != 2 {
		t.Errorf("duplicates %d, want 2", h.Counts().Duplicates)
	}
	if err := client(t, h.URL(), "pi-1", "bad").Send(ctx, ev); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("bad token: %v, want ErrUnauthorized", err)
	}
	h.Stop()
	if err := c.Send(ctx, ev); err == nil || errors.Is(err, ErrRejected) {
		t.Errorf("hub down: %v, want a transient error", err)
	}
}

func TestStatusClassification(t *testing.T) {
	for code, want := range map[int]error{400: ErrRejected, 413: ErrRejected, 422: ErrRejected, 401: ErrUnauthorized, 403: ErrUnauthorized, 404: ErrNotRegistered, 500: nil, 503: nil} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		err := client(t, srv.URL, "pi-1", "").Send(context.Background(), event("pi-1", 1, ResCPU))
		srv.Close()
		if err == nil {
			t.Errorf("%d: no error", code)
			continue
		}
		for _, e := range []error{ErrRejected, ErrUnauthorized, ErrNotRegistered} {
			if errors.Is(err, e) != (e == want) {
				t.Errorf("%d: errors.Is(%v, %v) = %v", code, err, e, !(e == want))
			}
		}
	}
}

func commandServer(t *testing.T, token string) (*httptest.Server, *[]float64) {
	t.Helper()
	var mu sync.Mutex
	sp := 24.0
	var applied []float64
	cs, err := NewCommandServer(CommandOptions{
		Device: "pi-1", Profile: "prof", Service: "svc", Token: token, SetpointMin: 16, SetpointMax: 30,
		Setpoint: func() float64 { mu.Lock(); defer mu.Unlock(); return sp },
		Apply: func(_ context.Context, c float64) (float64, error) {
			mu.Lock()
			defer mu.Unlock()
			if c == 29 {
				return 0, errors.New("emitter unplugged")
			}
			sp = c
			applied = append(applied, c)
			return c, nil
		},
		Room: func() map[string]float64 { return map[string]float64{ResTemperature: 25.1, ResCPU: 3} },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cs.Handler())
	t.Cleanup(srv.Close)
	return srv, &applied
}

func do(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCommandEndpoint(t *testing.T) {
	srv, applied := commandServer(t, "ct")
	base := srv.URL + "/api/v3/device/name/"
	for _, tc := range []struct {
		method, path, token, body string
		code                      int
	}{
		{"GET", "/api/v3/ping", "", "", 200},
		{"PUT", "pi-1/setpoint", "", `{"setpoint":"20"}`, 401},
		{"PUT", "pi-1/setpoint", "ct", `{"setpoint":"20"}`, 200},
		{"PUT", "pi-1/setpoint", "ct", `{"setpoint":21}`, 200},
		{"PUT", "pi-1/setpoint", "ct", `{"setpoint":"31"}`, 400},
		{"PUT", "pi-1/setpoint", "ct", `{"setpoint":"29"}`, 500},
		{"PUT", "pi-1/setpoint", "ct", `[1]`, 400},
		{"PUT", "pi-2/setpoint", "ct", `{"setpoint":"20"}`, 404},
		{"PUT", "pi-1/room", "ct", `{"setpoint":"20"}`, 405},
		{"GET", "pi-1/nothing", "ct", "", 404},
	} {
		url := base + tc.path
		if strings.HasPrefix(tc.path, "/") {
			url = srv.URL + tc.path
		}
		if code, body := do(t, tc.method, url, tc.token, tc.body); code != tc.code {
			t.Errorf("%s %s %s = %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.code)
		}
	}
	if len(*applied) != 2 || (*applied)[1] != 21 {
		t.Errorf("applied %v, want [20 21]", *applied)
	}
	for cmd, want := range map[string]int{"setpoint": 1, "room": 2} {
		code, body := do(t, "GET", base+"pi-1/"+cmd, "ct", "")
		var er responses.EventResponse
		if err := json.Unmarshal([]byte(body), &er); err != nil || code != 200 || len(er.Event.Readings) != want {
			t.Errorf("GET %s = %d %s (%v), want %d readings", cmd, code, body, err, want)
			continue
		}
		for _, r := range er.Event.Readings {
			if err := r.Validate(); err != nil {
				t.Errorf("GET %s reading invalid: %v", cmd, err)
			}
		}
	}
}

func TestDecodeSetpoint(t *testing.T) {
	for _, tc := range []struct {
		body string
		want float64
		ok   bool
	}{
		{`{"setpoint":"24"}`, 24, true},
		{`{"setpoint":" 22.5 "}`, 22.5, true},
		{`{"setpoint":16}`, 16, true},
		{`{"setpoint":"30"}`, 30, true},
		{`{"setpoint":"30.01"}`, 0, false},
		{`{"setpoint":"NaN"}`, 0, false},
		{`{"setpoint":"Inf"}`, 0, false},
		{`{"setpoint":true}`, 0, false},
		{`{"setpoint":null}`, 0, false},
		{`{}`, 0, false},
		{`{"setpoint":"20","fan":"high"}`, 0, false},
		{`{"setpoint":"20"} {}`, 0, false},
		{`not json`, 0, false},
		{strings.Repeat(" ", MaxCommandBody+1), 0, false},
	} {
		got, err := DecodeSetpoint([]byte(tc.body), 16, 30)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("DecodeSetpoint(%.40q) = %v, %v", tc.body, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadCommand) {
			t.Errorf("DecodeSetpoint(%.40q): %v is not ErrBadCommand", tc.body, err)
		}
	}
}

func FuzzDecodeSetpoint(f *testing.F) {
	for _, s := range []string{`{"setpoint":"24"}`, `{"setpoint":1e400}`, `{"setpoint":"0x1p4"}`, `{"a":1}`, `{"setpoint":"-0"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeSetpoint(b, 16, 30)
		if err == nil && !(c >= 16 && c <= 30) {
			t.Fatalf("DecodeSetpoint(%q) = %v, outside the bounds", b, c)
		}
	})
}

// TestDecodeSetpointKeepsTheDecodeError: a body cut short in transit and one that is
// not JSON at all are different faults; the decoder's error tells them apart.
func TestDecodeSetpointKeepsTheDecodeError(t *testing.T) {
	_, err := DecodeSetpoint([]byte(`{"setpoint":`), 16, 30)
	if !errors.Is(err, ErrBadCommand) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("DecodeSetpoint of a cut body = %v, want ErrBadCommand and io.ErrUnexpectedEOF", err)
	}
	_, err = DecodeSetpoint([]byte(`not json`), 16, 30)
	var syn *json.SyntaxError
	if !errors.Is(err, ErrBadCommand) || !errors.As(err, &syn) {
		t.Errorf("DecodeSetpoint of not JSON = %v, want ErrBadCommand wrapping a *json.SyntaxError", err)
	}
}

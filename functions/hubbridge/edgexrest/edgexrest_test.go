package edgexrest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/hubbridge/outbox"
	"github.com/smartx-team/overcloud/functions/hubbridge/registry"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const (
	profile = "room-sensor"
	service = "sim-service"
	source  = "room"
)

// testAPI is the ingest on a real outbox and registry in FerretDB, served by httptest.
type testAPI struct {
	URL    string
	reg    *prometheus.Registry
	outbox *outbox.Outbox
	tokens map[string]string
	// stopOutbox stops the outbox's writer (safe to call twice): stores then fail.
	stopOutbox func()
	// mongo is the FerretDB behind the outbox and the registry; killing it makes
	// every database call fail within mongoSelectTimeout.
	mongo *servers.Mongo
}

// mongoSelectTimeout bounds how long a database call waits for a server after
// FerretDB is gone (the driver's default, 30 s, would stall a test that kills it);
// a local FerretDB that is up is selected in milliseconds.
const mongoSelectTimeout = 3 * time.Second

func newAPI(t *testing.T, tokens map[string]string) *testAPI {
	t.Helper()
	return newAPIWith(t, tokens, Options{})
}

// newAPIWith is newAPI with o's settings besides the intake, registry and tokens.
func newAPIWith(t *testing.T, tokens map[string]string, o Options) *testAPI {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := servertest.Mongo(t)
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI).SetServerSelectionTimeout(mongoSelectTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database("ingest_test")
	reg := prometheus.NewRegistry()
	ob, err := outbox.Open(ctx, outbox.Options{Database: db, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(runCtx) }()
	var once sync.Once
	stopOutbox := func() { once.Do(func() { stop(); <-done }) }
	t.Cleanup(stopOutbox)
	rg, err := registry.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	limits, _ := intake.ParseLimits(intake.DefaultLimits)
	in, err := intake.New(intake.Options{Store: ob, Limits: limits, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var tf *TokenFile
	if tokens != nil {
		path := filepath.Join(t.TempDir(), "tokens.json")
		b, _ := json.Marshal(tokens)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if tf, err = LoadTokenFile(path, nil); err != nil {
			t.Fatal(err)
		}
	}
	o.Intake, o.Registry, o.Tokens, o.MaxBodyBytes, o.Registerer = in, rg, tf, 8<<10, reg
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close) // after the HTTP server's, which is registered later
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testAPI{URL: srv.URL, reg: reg, outbox: ob, tokens: tokens, stopOutbox: stopOutbox, mongo: m}
}

// post sends body and returns the status and the decoded JSON answer.
func (a *testAPI) post(t *testing.T, path, token string, body []byte, answer any) int {
	t.Helper()
	return a.send(t, http.MethodPost, path, token, body, answer)
}

// send is post with another method (nil body: none).
func (a *testAPI) send(t *testing.T, method, path, token string, body []byte, answer any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if answer != nil {
		if err := json.Unmarshal(b, answer); err != nil {
			t.Fatalf("POST %s: HTTP %d, answer %q is not JSON: %v", path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// register adds the profile, the service and the devices; each must answer 201.
func (a *testAPI) register(t *testing.T, devices ...string) {
	t.Helper()
	var items []itemAnswer
	a.post(t, "/api/v3/deviceprofile", "", mustJSON([]any{requests.NewDeviceProfileRequest(testProfile())}), &items)
	a.post(t, "/api/v3/deviceservice", "", mustJSON([]any{requests.NewAddDeviceServiceRequest(dtos.DeviceService{
		Name: service, BaseAddress: "http://127.0.0.1:59999", AdminState: "UNLOCKED",
	})}), &items)
	for _, d := range devices {
		status := a.post(t, "/api/v3/device", a.tokens[d], mustJSON([]any{addDevice(d)}), &items)
		if status != http.StatusMultiStatus || len(items) != 1 || items[0].StatusCode != http.StatusCreated {
			t.Fatalf("register %s: HTTP %d %+v", d, status, items)
		}
	}
}

type itemAnswer struct {
	APIVersion string `json:"apiVersion"`
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	ID         string `json:"id"`
}

func testProfile() dtos.DeviceProfile {
	return dtos.DeviceProfile{
		DeviceProfileBasicInfo: dtos.DeviceProfileBasicInfo{Name: profile, Manufacturer: "SmartX", Model: "DHT22"},
		DeviceResources: []dtos.DeviceResource{{Name: "temperature", Properties: dtos.ResourceProperties{
			ValueType: common.ValueTypeFloat64, ReadWrite: common.ReadWrite_R, Units: "C",
		}}},
	}
}

func addDevice(name string) requests.AddDeviceRequest {
	return requests.NewAddDeviceRequest(dtos.Device{
		Name: name, ServiceName: service, ProfileName: profile, AdminState: "UNLOCKED",
		OperatingState: "UP", Location: "sector-" + name,
		Protocols: map[string]dtos.ProtocolProperties{"other": {}},
	})
}

// eventOf is an event of device with one Float64 reading per value, seq from 1 up.
func eventOf(device string, seq uint64, values ...float64) dtos.Event {
	ev := dtos.NewEvent(profile, device, source)
	for i, v := range values {
		r, err := dtos.NewSimpleReading(profile, device, "temperature", common.ValueTypeFloat64, v)
		if err != nil {
			panic(err)
		}
		r.Id = uuid.NewString()
		r.Origin = ev.Origin + int64(i)
		r.Tags = dtos.Tags{"seq": seq + uint64(i)}
		ev.Readings = append(ev.Readings, r)
	}
	return ev
}

func eventPath(device string) string {
	return fmt.Sprintf("/api/v3/event/%s/%s/%s/%s", service, profile, device, source)
}

// pending returns every stored, undelivered reading.
func (a *testAPI) pending(t *testing.T) []reading.Reading {
	t.Helper()
	chunks, err := a.outbox.Pending(context.Background(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var out []reading.Reading
	for _, c := range chunks {
		recs, err := c.Records()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			r, err := reading.Decode(rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

func TestPing(t *testing.T) {
	a := newAPI(t, nil)
	resp, err := http.Get(a.URL + "/api/v3/ping")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ping struct {
		APIVersion  string `json:"apiVersion"`
		ServiceName string `json:"serviceName"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ping); err != nil || resp.StatusCode != 200 || ping.APIVersion != "v3" || ping.ServiceName == "" {
		t.Errorf("ping: HTTP %d %+v %v", resp.StatusCode, ping, err)
	}
}

// Registration answers 207 with a status per item; a second add of a name is 409, as
// in EdgeX, which the firmware takes for "already registered".
// What the firmware does when it meets its registrations (409): the profile is
// replaced, the device service's base address and the device's location patched,
// each only when registered, the device only with its own token; and the hub uses
// the new location.
func TestRegistrationUpdates(t *testing.T) {
	a := newAPI(t, map[string]string{"pi-1": "tok-1", "pi-2": "tok-2"})
	a.register(t, "pi-1")
	str := func(s string) *string { return &s }
	items := func(t *testing.T, method, path, token string, body []byte) []int {
		t.Helper()
		var got []itemAnswer
		if status := a.send(t, method, path, token, body, &got); status != http.StatusMultiStatus {
			t.Fatalf("%s %s: HTTP %d, want 207", method, path, status)
		}
		var codes []int
		for _, it := range got {
			codes = append(codes, it.StatusCode)
		}
		return codes
	}
	other := testProfile()
	other.Name = "never-registered"
	for _, tt := range []struct {
		name, method, path, token string
		body                      []byte
		want                      []int
	}{
		{"replace the profile", http.MethodPut, "/api/v3/deviceprofile", "", mustJSON([]any{requests.NewDeviceProfileRequest(testProfile())}), []int{200}},
		{"replace an unknown profile", http.MethodPut, "/api/v3/deviceprofile", "", mustJSON([]any{requests.NewDeviceProfileRequest(other)}), []int{404}},
		{"move the service", http.MethodPatch, "/api/v3/deviceservice", "", mustJSON([]any{requests.NewUpdateDeviceServiceRequest(dtos.UpdateDeviceService{Name: str(service), BaseAddress: str("http://10.0.0.57:59990")})}), []int{200}},
		{"move an unknown service", http.MethodPatch, "/api/v3/deviceservice", "", mustJSON([]any{requests.NewUpdateDeviceServiceRequest(dtos.UpdateDeviceService{Name: str("nope"), BaseAddress: str("http://x:1")})}), []int{404}},
		{"move the device, another's token", http.MethodPatch, "/api/v3/device?bypassValidation=true", "tok-2", mustJSON([]any{requests.NewUpdateDeviceRequest(dtos.UpdateDevice{Name: str("pi-1"), Location: "sector-9"})}), []int{401}},
		{"move the device", http.MethodPatch, "/api/v3/device?bypassValidation=true", "tok-1", mustJSON([]any{requests.NewUpdateDeviceRequest(dtos.UpdateDevice{Name: str("pi-1"), Location: "sector-9"})}), []int{200}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := items(t, tt.method, tt.path, tt.token, tt.body); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("item statuses %v, want %v", got, tt.want)
			}
		})
	}
	var svc struct {
		Service dtos.DeviceService `json:"service"`
	}
	if status := a.send(t, http.MethodGet, "/api/v3/deviceservice/name/"+service, "", nil, &svc); status != 200 || svc.Service.BaseAddress != "http://10.0.0.57:59990" {
		t.Errorf("GET the service: HTTP %d %+v, want the moved base address", status, svc.Service)
	}
	if status := a.send(t, http.MethodGet, "/api/v3/deviceservice/name/nope", "", nil, nil); status != 404 {
		t.Errorf("GET an unknown service: HTTP %d, want 404", status)
	}
	if code := a.post(t, eventPath("pi-1"), "tok-1", mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 1, 21.5))), nil); code != http.StatusCreated {
		t.Fatalf("event after the move: HTTP %d", code)
	}
	if rs := a.pending(t); len(rs) != 1 || rs[0].Location != "sector-9" {
		t.Errorf("stored %+v, want one reading with the patched location sector-9", rs)
	}
}

func TestRegistration(t *testing.T) {
	a := newAPI(t, map[string]string{"pi-1": "tok-1", "pi-2": "tok-2"})
	for _, tt := range []struct {
		name, path, token string
		body              []byte
		want              []int
	}{
		{"profile", "/api/v3/deviceprofile", "", mustJSON([]any{requests.NewDeviceProfileRequest(testProfile())}), []int{201}},
		{"profile again", "/api/v3/deviceprofile", "", mustJSON([]any{requests.NewDeviceProfileRequest(testProfile())}), []int{409}},
		{"service", "/api/v3/deviceservice", "", mustJSON([]any{requests.NewAddDeviceServiceRequest(dtos.DeviceService{Name: service, BaseAddress: "http://x:1", AdminState: "UNLOCKED"})}), []int{201}},
		{"service again", "/api/v3/deviceservice", "", mustJSON([]any{requests.NewAddDeviceServiceRequest(dtos.DeviceService{Name: service, BaseAddress: "http://x:1", AdminState: "UNLOCKED"})}), []int{409}},
		{"device", "/api/v3/device", "tok-1", mustJSON([]any{addDevice("pi-1")}), []int{201}},
		{"device again", "/api/v3/device", "tok-1", mustJSON([]any{addDevice("pi-1")}), []int{409}},
		{"two devices, one token", "/api/v3/device", "tok-2", mustJSON([]any{addDevice("pi-2"), addDevice("pi-1")}), []int{201, 401}},
		{"device without token entry", "/api/v3/device", "tok-1", mustJSON([]any{addDevice("pi-9")}), []int{403}},
		{"device of unknown profile", "/api/v3/device", "tok-2", mustJSON([]any{func() requests.AddDeviceRequest {
			r := addDevice("pi-2")
			r.Device.ProfileName = "nope"
			return r
		}()}), []int{404}},
		{"invalid device (no protocols)", "/api/v3/device", "tok-1", []byte(`[{"apiVersion":"v3","device":{"name":"pi-1"}}]`), []int{400}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var items []itemAnswer
			status := a.post(t, tt.path, tt.token, tt.body, &items)
			if status != http.StatusMultiStatus || len(items) != len(tt.want) {
				t.Fatalf("HTTP %d, %d items; want 207 with %d", status, len(items), len(tt.want))
			}
			for i, want := range tt.want {
				if items[i].StatusCode != want || items[i].APIVersion != "v3" {
					t.Errorf("item %d: %+v, want status %d", i, items[i], want)
				}
				if want == 201 && items[i].ID == "" {
					t.Errorf("item %d: created without an id", i)
				}
				if want != 201 && items[i].Message == "" {
					t.Errorf("item %d: status %d without a message", i, want)
				}
			}
		})
	}
	for _, tt := range []struct {
		name, token string
		want        int
	}{{"pi-1", "tok-1", 200}, {"pi-1", "tok-2", 401}, {"pi-2", "tok-2", 200}} {
		req, _ := http.NewRequest(http.MethodGet, a.URL+"/api/v3/device/name/"+tt.name, nil)
		req.Header.Set("Authorization", "Bearer "+tt.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Device dtos.Device `json:"device"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if resp.StatusCode != tt.want || (tt.want == 200 && (d.Device.Name != tt.name || d.Device.Location != "sector-"+tt.name)) {
			t.Errorf("GET device %s with %s: HTTP %d %+v, want %d", tt.name, tt.token, resp.StatusCode, d.Device, tt.want)
		}
	}
}

// The firmware's happy path: an event is stored with the device's location, and a
// retry of the same event is answered 201 without storing it twice.
func TestEventStored(t *testing.T) {
	a := newAPI(t, map[string]string{"pi-1": "tok-1"})
	a.register(t, "pi-1")
	ev := eventOf("pi-1", 1, 21.5, 22)
	body := mustJSON(requests.NewAddEventRequest(ev))
	for range 2 {
		var ans itemAnswer
		if status := a.post(t, eventPath("pi-1"), "tok-1", body, &ans); status != 201 || ans.StatusCode != 201 || ans.ID != ev.Id {
			t.Fatalf("HTTP %d %+v, want 201 with the event id", status, ans)
		}
	}
	got := a.pending(t)
	if len(got) != 2 {
		t.Fatalf("stored %d readings, want 2 (the retry is a duplicate)", len(got))
	}
	for i, r := range got {
		want := reading.Reading{ID: ev.Readings[i].Id, Device: "pi-1", Resource: "temperature", Value: []float64{21.5, 22}[i],
			Unit: "", Origin: ev.Readings[i].Origin, Seq: uint64(i + 1), Location: "sector-pi-1"}
		if r != want {
			t.Errorf("reading %d = %+v, want %+v", i, r, want)
		}
	}
}

// Every kind of bad input gets its 4xx with an EdgeX JSON reason and is counted,
// while a good device posting at the same time is stored untouched.
func TestBadInput(t *testing.T) {
	a := newAPI(t, map[string]string{"pi-1": "tok-1", "good": "tok-good", "ghost": "tok-ghost"})
	a.register(t, "pi-1", "good")

	ev := func(values ...float64) []byte {
		return mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 1, values...)))
	}
	withReading := func(mod func(*dtos.BaseReading)) []byte {
		e := eventOf("pi-1", 1, 20)
		mod(&e.Readings[0])
		return mustJSON(requests.NewAddEventRequest(e))
	}
	noReadings := mustJSON(requests.NewAddEventRequest(dtos.NewEvent(profile, "pi-1", source)))
	huge := append([]byte(`{"apiVersion":"v3","event":{"readings":[`), bytes.Repeat([]byte(`{"id":"x"},`), 2000)...)
	tests := []struct {
		name, device, token string
		path                string // default: the device's event path
		body                []byte
		status              int
		reason              intake.Reason
		want                string // in the message
		stored              int    // readings of pi-1 stored
	}{
		{name: "malformed JSON", device: "pi-1", token: "tok-1", body: []byte(`{"apiVersion":"v3","event":{`), status: 400, reason: intake.ReasonMalformed, want: "JSON"},
		{name: "wrong JSON type", device: "pi-1", token: "tok-1", body: []byte(`{"apiVersion":"v3","event":{"origin":"soon"}}`), status: 400, reason: intake.ReasonMalformed},
		{name: "fails EdgeX validation", device: "pi-1", token: "tok-1", body: noReadings, status: 400, reason: intake.ReasonInvalid, want: "invalid event"},
		{name: "value not of its type", device: "pi-1", token: "tok-1", body: withReading(func(r *dtos.BaseReading) { r.Value = "warm" }), status: 400, reason: intake.ReasonInvalid},
		{name: "oversize body", device: "pi-1", token: "tok-1", body: huge, status: 413, reason: intake.ReasonTooLarge, want: "limit"},
		{name: "no token", device: "pi-1", body: ev(20), status: 401, reason: intake.ReasonUnauthorized, want: "bearer token"},
		{name: "wrong token", device: "pi-1", token: "tok-good", body: ev(20), status: 401, reason: intake.ReasonUnauthorized, want: "wrong token"},
		{name: "device without a token", device: "pi-9", token: "tok-1", body: ev(20), status: 403, reason: intake.ReasonForbidden},
		{name: "unknown device", device: "ghost", token: "tok-ghost", body: mustJSON(requests.NewAddEventRequest(eventOf("ghost", 1, 20))), status: 404, reason: intake.ReasonUnknownDevice, want: "unknown device"},
		{name: "path names another source", device: "pi-1", token: "tok-1", path: fmt.Sprintf("/api/v3/event/%s/%s/pi-1/other", service, profile), body: ev(20), status: 400, reason: intake.ReasonPathMismatch},
		{name: "out of range", device: "pi-1", token: "tok-1", body: ev(140), status: 422, reason: intake.ReasonOutOfRange, want: "outside"},
		{name: "not a number", device: "pi-1", token: "tok-1", body: withReading(func(r *dtos.BaseReading) { r.ValueType, r.Value = common.ValueTypeString, "warm" }), status: 422, reason: intake.ReasonNonNumeric},
		{name: "origin in milliseconds", device: "pi-1", token: "tok-1", body: withReading(func(r *dtos.BaseReading) { r.Origin = time.Now().UnixMilli() }), status: 422, reason: intake.ReasonBadOrigin, want: "nanoseconds"},
		{name: "one bad of two", device: "pi-1", token: "tok-1", body: ev(21, 140), status: 201, reason: intake.ReasonOutOfRange, want: "stored 1 of 2", stored: 1},
	}

	// A good device posts all along; each of its events must be answered 201.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var goodSent int
	var goodErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			var ans itemAnswer
			req, _ := http.NewRequest(http.MethodPost, a.URL+eventPath("good"), bytes.NewReader(mustJSON(requests.NewAddEventRequest(eventOf("good", seq, 20)))))
			req.Header.Set("Authorization", "Bearer tok-good")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				goodErr = err
				return
			}
			_ = json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				goodErr = fmt.Errorf("good event answered %d: %+v", resp.StatusCode, ans)
				return
			}
			goodSent++
		}
	}()

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := servertest.Metric(t, a.reg, "hub_rejected_total", "reason", string(tt.reason))
			storedBefore := countDevice(a.pending(t), "pi-1")
			path := tt.path
			if path == "" {
				path = eventPath(tt.device)
			}
			var ans itemAnswer
			status := a.post(t, path, tt.token, tt.body, &ans)
			if status != tt.status || ans.StatusCode != tt.status || ans.APIVersion != "v3" || ans.Message == "" {
				t.Errorf("HTTP %d %+v, want %d with an EdgeX JSON reason", status, ans, tt.status)
			}
			if !strings.Contains(ans.Message, tt.want) {
				t.Errorf("message %q does not say %q", ans.Message, tt.want)
			}
			for _, tok := range a.tokens {
				if strings.Contains(ans.Message, tok) {
					t.Errorf("message %q leaks a token", ans.Message)
				}
			}
			if after := servertest.Metric(t, a.reg, "hub_rejected_total", "reason", string(tt.reason)); after != before+1 {
				t.Errorf("hub_rejected_total{reason=%q} went from %v to %v, want +1", tt.reason, before, after)
			}
			if got := countDevice(a.pending(t), "pi-1") - storedBefore; got != tt.stored {
				t.Errorf("%d readings of pi-1 stored, want %d", got, tt.stored)
			}
		})
	}
	close(stop)
	wg.Wait()
	if goodErr != nil {
		t.Fatal(goodErr)
	}
	if got := countDevice(a.pending(t), "good"); got != goodSent || goodSent == 0 {
		t.Errorf("good device: %d readings stored, %d acknowledged", got, goodSent)
	}
}

func countDevice(rs []reading.Reading, device string) int {
	n := 0
	for _, r := range rs {
		if r.Device == device {
			n++
		}
	}
	return n
}

// Without a tokens file anyone may post, as in the benchmark and a trusted network.
func TestNoAuth(t *testing.T) {
	a := newAPI(t, nil)
	a.register(t, "pi-1")
	var ans itemAnswer
	if status := a.post(t, eventPath("pi-1"), "", mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 1, 20))), &ans); status != 201 {
		t.Errorf("HTTP %d %+v, want 201", status, ans)
	}
}

// Every non-2xx answer is counted by status and reason, each series from zero, and so
// is every rejection reason: a store that fails (the outbox has stopped) answers 503
// and shows as store_failed, and so does a failed sequence lookup (an event without
// seq tags when MongoDB is gone); a registry that does not answer shows as
// registry_unavailable, and a device's own refusal of a command as device_answer.
func TestErrorAnswersCounted(t *testing.T) {
	a := newAPI(t, nil)
	fams, err := promscrape.Gather(a.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errorAnswers {
		if v, ok := fams.Value("hub_http_errors_total", "status", strconv.Itoa(e.status), "reason", e.reason); !ok || v != 0 {
			t.Errorf("hub_http_errors_total{status=%d,reason=%s} = %v (present %v), want 0 from the start", e.status, e.reason, v, ok)
		}
	}
	for _, status := range deviceAnswers {
		if v, ok := fams.Value("hub_http_errors_total", "status", strconv.Itoa(status), "reason", answerDeviceAnswer); !ok || v != 0 {
			t.Errorf("hub_http_errors_total{status=%d,reason=%s} = %v (present %v), want 0 from the start", status, answerDeviceAnswer, v, ok)
		}
	}
	for _, r := range intake.Reasons {
		if v, ok := fams.Value("hub_rejected_total", "reason", string(r)); !ok || v != 0 {
			t.Errorf("hub_rejected_total{reason=%s} = %v (present %v), want 0 from the start", r, v, ok)
		}
	}

	a.register(t, "pi-1")
	// A good event first: the registry then holds pi-1 in memory, so that the
	// failures below are the outbox's and MongoDB's, not the device lookup's.
	if code := a.post(t, eventPath("pi-1"), "", mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 1, 21))), nil); code != http.StatusCreated {
		t.Fatalf("good event: HTTP %d, want 201", code)
	}
	// The device refuses a command (its token check, say) and then a proxy in front
	// of it answers 502, a status the firmware never sends.
	pi := &commandDevice{status: http.StatusUnauthorized}
	dev := httptest.NewServer(pi)
	t.Cleanup(dev.Close)
	a.registerAt(t, "pi-cmd", dev.URL)
	const setpoint = "/api/v3/device/name/pi-cmd/setpoint"
	if code := a.send(t, http.MethodPut, setpoint, "", []byte(`{"setpoint": "22"}`), nil); code != http.StatusUnauthorized {
		t.Errorf("command the device refuses: HTTP %d, want its 401", code)
	}
	pi.mu.Lock()
	pi.status = http.StatusBadGateway
	pi.mu.Unlock()
	if code := a.send(t, http.MethodGet, setpoint, "", nil, nil); code != http.StatusBadGateway {
		t.Errorf("command through a failing proxy: HTTP %d, want its 502", code)
	}
	pi.mu.Lock()
	pi.status = http.StatusOK
	pi.mu.Unlock()
	if code := a.send(t, http.MethodGet, setpoint, "", nil, nil); code != http.StatusOK {
		t.Errorf("command the device takes: HTTP %d, want 200", code)
	}

	if code := a.post(t, "/api/v3/nowhere", "", []byte("{}"), nil); code != http.StatusNotFound {
		t.Errorf("POST /api/v3/nowhere: HTTP %d, want 404", code)
	}
	a.stopOutbox()
	if code := a.post(t, eventPath("pi-1"), "", mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 2, 21.5))), nil); code != http.StatusServiceUnavailable {
		t.Errorf("event with the outbox stopped: HTTP %d, want 503", code)
	}

	// MongoDB goes away: numbering readings that came without a seq fails, and so do
	// the registry's reads of what it does not hold in memory.
	if err := a.mongo.Kill(); err != nil {
		t.Fatal(err)
	}
	noSeq := eventOf("pi-1", 3, 22)
	for i := range noSeq.Readings {
		noSeq.Readings[i].Tags = nil
	}
	if code := a.post(t, eventPath("pi-1"), "", mustJSON(requests.NewAddEventRequest(noSeq)), nil); code != http.StatusServiceUnavailable {
		t.Errorf("event without seq tags, MongoDB gone: HTTP %d, want 503", code)
	}
	if code := a.post(t, eventPath("pi-2"), "", mustJSON(requests.NewAddEventRequest(eventOf("pi-2", 1, 22))), nil); code != http.StatusServiceUnavailable {
		t.Errorf("event of a device not in memory, MongoDB gone: HTTP %d, want 503", code)
	}
	if code := a.send(t, http.MethodGet, setpoint, "", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("command whose device service must be read, MongoDB gone: HTTP %d, want 503", code)
	}

	for _, tt := range []struct {
		status int
		reason string
		want   float64
	}{
		{503, answerStoreFailed, 2}, // the stopped outbox, the failed seq lookup
		{503, answerRegistryDown, 2},
		{404, answerNoEndpoint, 1},
		{401, answerDeviceAnswer, 1},
		{502, answerDeviceAnswer, 1},
		{400, answerDeviceAnswer, 0},
	} {
		if got := servertest.Metric(t, a.reg, "hub_http_errors_total", "status", strconv.Itoa(tt.status), "reason", tt.reason); got != tt.want {
			t.Errorf("hub_http_errors_total{status=%d,reason=%s} = %v, want %v", tt.status, tt.reason, got, tt.want)
		}
	}
	for step, want := range map[string]float64{"store": 1, "seq": 1} {
		if got := servertest.Metric(t, a.reg, "hub_accept_errors_total", "step", step); got != want {
			t.Errorf("hub_accept_errors_total{step=%s} = %v, want %v", step, got, want)
		}
	}
}

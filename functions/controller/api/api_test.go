package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartx-team/overcloud/functions/controller/api"
	"github.com/smartx-team/overcloud/functions/controller/audit"
	"github.com/smartx-team/overcloud/functions/controller/coreclient"
	"github.com/smartx-team/overcloud/functions/controller/influx"
	"github.com/smartx-team/overcloud/functions/controller/internal/controllertest"
	"github.com/smartx-team/overcloud/functions/controller/loop"
	"github.com/smartx-team/overcloud/functions/controller/policy"
	"github.com/smartx-team/overcloud/functions/controller/tfserving"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

var start = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

const token = "op-s3cret"

type fixture struct {
	srv   *httptest.Server
	cc    *controllertest.CoreCommand
	store *audit.Store
	ctl   *loop.Controller
	clock *controllertest.Clock
}

// newFixture serves the API of a real controller (real InfluxDB and FerretDB, the
// TF-Serving and core-command stand-ins) for pi-1 and pi-2, with a token.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	in := servertest.Influx(t)
	f := &fixture{clock: controllertest.NewClock(start.Add(3*time.Minute + 55*time.Second))}
	f.store = audit.New(servertest.MongoClient(t), audit.Options{})
	ic, err := influx.New(influx.Options{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ic.Close)
	controllertest.WriteSamples(t, in, "pi-1", "sector-a", controllertest.Minutes(start, 4, 24, func(int) float64 { return 24 })...)
	inf := controllertest.NewInference(t, controllertest.Model())
	f.cc = controllertest.NewCoreCommand(t, "pi-1", "pi-2")
	tf, _ := newTF(inf.URL)
	core, _ := coreclient.New(coreclient.Options{URL: f.cc.URL})
	f.ctl, err = loop.New(ic, tf, ic, core, f.store, loop.Options{Devices: []string{"pi-1", "pi-2"}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ctl.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Controller: f.ctl, Audit: f.store, Token: token, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(a.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

type answer struct {
	code int
	body map[string]any
	raw  string
	hdr  http.Header
}

// do sends a request; auth adds the token; ctype "" sends no Content-Type.
func (f *fixture) do(t *testing.T, method, path, body, ctype string, auth bool) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, raw: string(b), hdr: resp.Header}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if method != http.MethodHead {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Errorf("%s %s: not a JSON object: %s", method, path, b)
		}
	}
	return a
}

const jsonType = "application/json"

// Every endpoint, and every error each answers, against a real controller.
func TestAPI(t *testing.T) {
	f := newFixture(t)
	f.ctl.Tick(context.Background())

	t.Run("state", func(t *testing.T) {
		a := f.do(t, http.MethodGet, "/api/v1/state", "", "", false)
		if a.code != 200 || a.body["ready"] != true {
			t.Fatalf("GET state = %d %s", a.code, a.raw)
		}
		var st loop.State
		if err := json.Unmarshal([]byte(a.raw), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Devices) != 2 || st.Devices[0].Device != "pi-1" || st.Devices[0].Mode != "auto" || *st.Devices[0].Current != 25 ||
			*st.Devices[0].Recommended != 25 || st.Devices[0].LastPrediction == nil || st.Devices[1].Mode != "stale" ||
			st.Limits.Ceiling != policy.DefaultLimits().Ceiling() || st.Limits.RaiseEvery != "30m0s" || st.Model == nil || st.Model.Version != 3 {
			t.Errorf("state %s", a.raw)
		}
		if a := f.do(t, http.MethodHead, "/api/v1/state", "", "", false); a.code != 200 {
			t.Errorf("HEAD state = %d", a.code)
		}
	})

	t.Run("manual set-point and cancel", func(t *testing.T) {
		a := f.do(t, http.MethodPost, "/api/v1/devices/pi-1/setpoint",
			`{"setpoint": 23, "user": "kim", "reason": "maintenance", "duration": "2h"}`, jsonType, true)
		if a.code != 200 || a.body["mode"] != "override" || a.body["current_setpoint"] != 23.0 {
			t.Fatalf("POST setpoint = %d %s", a.code, a.raw)
		}
		ov, _ := a.body["override"].(map[string]any)
		if ov["user"] != "kim" || ov["until"] != f.clock.Now().Add(2*time.Hour).Format(time.RFC3339) {
			t.Errorf("override %v", ov)
		}
		if cmds := f.cc.Commands(); cmds[len(cmds)-1].Setpoint != "23" {
			t.Errorf("not applied: %+v", cmds)
		}
		a = f.do(t, http.MethodDelete, "/api/v1/devices/pi-1/override?user=lee&reason=done", "", "", true)
		if a.code != 200 || a.body["mode"] != "auto" || a.body["override"] != nil {
			t.Fatalf("DELETE override = %d %s", a.code, a.raw)
		}
		// The same with a JSON body.
		f.do(t, http.MethodPost, "/api/v1/devices/pi-1/setpoint", `{"setpoint": 22, "user": "kim"}`, "application/json; charset=utf-8", true)
		a = f.do(t, http.MethodDelete, "/api/v1/devices/pi-1/override", `{"user": "lee", "reason": "by body"}`, jsonType, true)
		if a.code != 200 {
			t.Fatalf("DELETE with a body = %d %s", a.code, a.raw)
		}
	})

	t.Run("audit", func(t *testing.T) {
		a := f.do(t, http.MethodGet, "/api/v1/audit?device=pi-1&limit=3", "", "", false)
		entries, _ := a.body["entries"].([]any)
		if a.code != 200 || len(entries) != 3 {
			t.Fatalf("GET audit = %d %s", a.code, a.raw)
		}
		first := entries[0].(map[string]any)
		if first["action"] != "cancel" || first["actor"] != "manual by lee" || !strings.Contains(first["reason"].(string), "by body") {
			t.Errorf("newest entry %v", first)
		}
		a = f.do(t, http.MethodGet, "/api/v1/audit", "", "", false)
		if all, _ := a.body["entries"].([]any); len(all) != 5 { // auto, manual, cancel, manual, cancel
			t.Errorf("all entries: %s", a.raw)
		}
		since := url.QueryEscape(f.clock.Now().Add(time.Second).Format(time.RFC3339))
		a = f.do(t, http.MethodGet, "/api/v1/audit?since="+since, "", "", false)
		if e, ok := a.body["entries"].([]any); a.code != 200 || !ok || len(e) != 0 {
			t.Errorf("since the future: %s", a.raw)
		}
		a = f.do(t, http.MethodGet, "/api/v1/audit?since=1h&device=pi-2", "", "", false)
		if e, ok := a.body["entries"].([]any); a.code != 200 || !ok || len(e) != 0 {
			t.Errorf("pi-2 in the last hour: %s", a.raw)
		}
	})

	big := `{"setpoint": 23, "user": "kim", "reason": "` + strings.Repeat("x", api.DefaultMaxBody) + `"}`
	for _, tt := range []struct {
		name, method, path, body, ctype string
		auth                            bool
		code                            int
		msg                             string
	}{
		{"no token", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23, "user": "kim"}`, jsonType, false, 401, "bearer"},
		{"no token to cancel", "DELETE", "/api/v1/devices/pi-1/override?user=lee", "", "", false, 401, "bearer"},
		{"not JSON", "POST", "/api/v1/devices/pi-1/setpoint", `setpoint=23`, jsonType, true, 400, "JSON"},
		{"no body", "POST", "/api/v1/devices/pi-1/setpoint", ``, jsonType, true, 400, "JSON body"},
		{"form", "POST", "/api/v1/devices/pi-1/setpoint", `setpoint=23`, "application/x-www-form-urlencoded", true, 415, "application/json"},
		{"no content type", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23, "user": "kim"}`, "", true, 415, "application/json"},
		{"too large", "POST", "/api/v1/devices/pi-1/setpoint", big, jsonType, true, 413, "bytes"},
		{"unknown field", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23, "user": "kim", "force": true}`, jsonType, true, 400, "force"},
		{"no setpoint", "POST", "/api/v1/devices/pi-1/setpoint", `{"user": "kim"}`, jsonType, true, 400, "setpoint"},
		{"setpoint a string", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": "23", "user": "kim"}`, jsonType, true, 400, "setpoint"},
		{"no user", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23}`, jsonType, true, 400, "user"},
		{"too warm", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 35, "user": "kim"}`, jsonType, true, 400, "outside 16..30"},
		{"half a degree", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 22.5, "user": "kim"}`, jsonType, true, 400, "whole degree"},
		{"bad duration", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23, "user": "kim", "duration": "soon"}`, jsonType, true, 400, "duration"},
		{"too long", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23, "user": "kim", "duration": "72h"}`, jsonType, true, 400, "at most 24h"},
		{"trailing data", "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23, "user": "kim"} {}`, jsonType, true, 400, "trailing"},
		{"unknown device", "POST", "/api/v1/devices/pi-9/setpoint", `{"setpoint": 23, "user": "kim"}`, jsonType, true, 404, "unknown device"},
		{"core-command down", "POST", "/api/v1/devices/pi-2/setpoint", `{"setpoint": 23, "user": "kim"}`, jsonType, true, 502, "not applied"},
		{"cancel without user", "DELETE", "/api/v1/devices/pi-1/override", "", "", true, 400, "user"},
		{"cancel, nothing in force", "DELETE", "/api/v1/devices/pi-1/override?user=lee", "", "", true, 404, "no override"},
		{"cancel unknown device", "DELETE", "/api/v1/devices/pi-9/override?user=lee", "", "", true, 404, "unknown device"},
		{"cancel body with control characters", "DELETE", "/api/v1/devices/pi-1/override", `{"user": "lee\u0007"}`, jsonType, true, 400, "control"},
		{"wrong method on state", "POST", "/api/v1/state", "", "", false, 405, "GET"},
		{"wrong method on setpoint", "GET", "/api/v1/devices/pi-1/setpoint", "", "", false, 405, "POST"},
		{"wrong method on override", "PUT", "/api/v1/devices/pi-1/override", "", "", true, 405, "DELETE"},
		{"no such endpoint", "GET", "/api/v1/nothing", "", "", false, 404, "no such endpoint"},
		{"audit: bad limit", "GET", "/api/v1/audit?limit=0", "", "", false, 400, "limit"},
		{"audit: huge limit", "GET", "/api/v1/audit?limit=5000", "", "", false, 400, "limit"},
		{"audit: bad since", "GET", "/api/v1/audit?since=yesterday", "", "", false, 400, "since"},
		{"audit: bad device", "GET", "/api/v1/audit?device=a/b", "", "", false, 400, "device"},
		{"audit: unknown parameter", "GET", "/api/v1/audit?user=kim", "", "", false, 400, "unknown parameter"},
		{"audit: twice", "GET", "/api/v1/audit?limit=1&limit=2", "", "", false, 400, "2 times"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "core-command down" {
				f.cc.Fail("pi-2", http.StatusServiceUnavailable)
				defer f.cc.Fail("pi-2", 0)
			}
			a := f.do(t, tt.method, tt.path, tt.body, tt.ctype, tt.auth)
			msg, _ := a.body["error"].(string)
			if a.code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s %s = %d %s, want %d with %q", tt.method, tt.path, a.code, a.raw, tt.code, tt.msg)
			}
			if tt.code == 401 && a.hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.code == 405 && a.hdr.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

// Not ready (overrides not restored) is 503, and so is an audit trail MongoDB cannot
// give.
func TestUnavailable(t *testing.T) {
	dead, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1").SetServerSelectionTimeout(100 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Disconnect(context.Background()) })
	store := audit.New(dead, audit.Options{})
	ic, _ := influx.New(influx.Options{URL: "http://127.0.0.1:1", Bucket: "b"})
	defer ic.Close()
	tf, _ := newTF("http://127.0.0.1:1")
	core, _ := coreclient.New(coreclient.Options{URL: "http://127.0.0.1:1"})
	ctl, err := loop.New(ic, tf, ic, core, store, loop.Options{Devices: []string{"pi-1"}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := api.New(api.Options{Controller: ctl, Audit: store})
	f := &fixture{srv: httptest.NewServer(a.Handler())}
	defer f.srv.Close()
	if a := f.do(t, "POST", "/api/v1/devices/pi-1/setpoint", `{"setpoint": 23, "user": "kim"}`, jsonType, false); a.code != 503 || !strings.Contains(a.raw, "not ready") {
		t.Errorf("not ready: %d %s", a.code, a.raw)
	}
	if a := f.do(t, "GET", "/api/v1/audit", "", "", false); a.code != 503 {
		t.Errorf("audit with MongoDB down: %d %s", a.code, a.raw)
	}
	if a := f.do(t, "GET", "/api/v1/state", "", "", false); a.code != 200 || a.body["ready"] != false {
		t.Errorf("state when not ready: %d %s", a.code, a.raw)
	}
	if _, err := api.New(api.Options{}); err == nil {
		t.Error("New without parts")
	}
}

func TestParseManual(t *testing.T) {
	m, err := api.ParseManual([]byte(` {"setpoint": 23, "user": " kim ", "reason": "maintenance", "duration": "90m"} `))
	if err != nil || m.Setpoint != 23 || m.User != "kim" || m.Reason != "maintenance" || m.Duration != 90*time.Minute {
		t.Errorf("ParseManual = %+v, %v", m, err)
	}
	if m, err := api.ParseManual([]byte(`{"setpoint": 2.3e1, "user": "kim"}`)); err != nil || m.Setpoint != 23 || m.Duration != 0 {
		t.Errorf("exponent, no duration: %+v %v", m, err)
	}
	for _, bad := range []string{
		``, `[]`, `null`, `{"setpoint": null, "user": "kim"}`, `{"setpoint": 1e999, "user": "kim"}`,
		`{"setpoint": 23, "user": "` + strings.Repeat("k", api.MaxUser+1) + `"}`,
		`{"setpoint": 23, "user": "kim", "reason": "` + strings.Repeat("r", api.MaxReason+1) + `"}`,
		`{"setpoint": 23, "user": "kim", "duration": "0s"}`,
		`{"setpoint": 23, "user": "kim", "duration": 3600}`,
		`{"setpoint": 23, "user": "\u0000"}`,
		`{"setpoint": 23, "user": "kim"`,
	} {
		if _, err := api.ParseManual([]byte(bad)); err == nil {
			t.Errorf("ParseManual(%.60s) took it", bad)
		}
	}
}

func TestParseAuditQuery(t *testing.T) {
	now := start
	q, err := api.ParseAuditQuery(url.Values{"device": {"pi-1"}, "since": {"2h"}, "limit": {"7"}}, now)
	if err != nil || q.Device != "pi-1" || !q.Since.Equal(now.Add(-2*time.Hour)) || q.Limit != 7 {
		t.Errorf("= %+v, %v", q, err)
	}
	q, err = api.ParseAuditQuery(url.Values{"since": {"2026-11-20T08:00:00+09:00"}}, now)
	if err != nil || !q.Since.Equal(time.Date(2026, 11, 19, 23, 0, 0, 0, time.UTC)) || q.Limit != 0 {
		t.Errorf("RFC 3339: %+v %v", q, err)
	}
	if q, err := api.ParseAuditQuery(url.Values{}, now); err != nil || q != (audit.Query{}) {
		t.Errorf("empty: %+v %v", q, err)
	}
	if _, err := api.ParseAuditQuery(url.Values{"since": {"-2h"}}, now); err == nil {
		t.Error("a negative duration was taken")
	}
}

// The parsers of request bodies and query strings never panic, and what they accept is
// within their documented bounds.
func FuzzParseManual(f *testing.F) {
	for _, s := range []string{
		`{"setpoint": 23, "user": "kim", "reason": "maintenance", "duration": "2h"}`,
		`{"setpoint": -1e308, "user": "k"}`,
		`{"setpoint": 23, "user": "kim"} x`,
		`{"user": "\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := api.ParseManual(b)
		if err != nil {
			return
		}
		if m.User == "" || len(m.User) > api.MaxUser || len(m.Reason) > api.MaxReason || m.Duration < 0 || m.Setpoint != m.Setpoint {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func FuzzParseCancelAndQuery(f *testing.F) {
	f.Add([]byte(`{"user": "lee", "reason": "done"}`), "device=pi-1&since=2h&limit=5")
	f.Add([]byte(`{"user": ""}`), "since=2026-11-21T10:00:00Z")
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		if c, err := api.ParseCancel(body); err == nil && (c.User == "" || len(c.User) > api.MaxUser) {
			t.Fatalf("accepted %+v", c)
		}
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q, err := api.ParseAuditQuery(v, start)
		if err == nil && (q.Limit < 0 || q.Limit > audit.MaxLimit || (q.Device != "" && coreclient.CheckDevice(q.Device) != nil)) {
			t.Fatalf("accepted %+v", q)
		}
	})
}

func newTF(url string) (*tfserving.Client, error) { return tfserving.New(tfserving.Options{URL: url}) }

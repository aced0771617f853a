package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	controller "github.com/smartx-team/overcloud/functions/controller/wiring"
	"github.com/smartx-team/overcloud/functions/dashboard/auth"
	"github.com/smartx-team/overcloud/functions/dashboard/control"
	"github.com/smartx-team/overcloud/functions/dashboard/pipeline"
	"github.com/smartx-team/overcloud/functions/dashboard/room"
	"github.com/smartx-team/overcloud/functions/dashboard/web"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// bench is a dashboard in front of real parts: InfluxDB with points written as the
// sender writes them, and the real controller (its HTTP API, MongoDB audit trail) on
// two devices whose command service is down, so a set-point reaches the controller
// and is audited as not applied.
type bench struct {
	srv     *httptest.Server
	ctl     *control.Client
	reg     *prometheus.Registry
	hubReg  *prometheus.Registry
	backlog prometheus.Gauge
}

const password = "correct horse"

func newBench(t *testing.T) *bench {
	t.Helper()
	in := servertest.Influx(t)
	mongo := servertest.Mongo(t)
	now := time.Now()
	w := influxdb2.NewClient(in.URL, in.Token)
	defer w.Close()
	pt := func(dev, loc string, fields map[string]any, at time.Time) {
		t.Helper()
		if err := w.WriteAPIBlocking(in.Org, in.Bucket).WritePoint(context.Background(),
			influxdb2.NewPoint(dev, map[string]string{"location": loc}, fields, at)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		at := now.Add(time.Duration(i-5) * 30 * time.Second)
		pt("pi-1", "sector-a", map[string]any{"temperature": 23.4, "humidity": 45.0, "setpoint": 24.0, "cpu": 12.5, "mem": 40.0, "disk": 55.0,
			"ext_temperature": 4.0, "ext_humidity": 70.0, "weather_stat": int64(7)}, at)
		// pi-2 has no IR transmitter yet: it reports no set-point.
		pt("pi-2", "sector-b", map[string]any{"temperature": 27.8, "humidity": 85.0}, at)
	}
	pt("pi-1", "sector-a", map[string]any{"recommend_temperature": 25.0}, now.Add(-10*time.Second))
	pt("pi-9", "sector-z", map[string]any{"temperature": 20.0, "cpu": 5.0, "mem": 5.0, "disk": 5.0}, now.Add(-2*time.Hour))

	ports := make([]int, 2)
	for i := range ports {
		p, err := servers.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	cfg := controller.Defaults()
	cfg.Devices = "pi-1,pi-2"
	cfg.InfluxURL, cfg.InfluxToken, cfg.InfluxOrg, cfg.InfluxBucket = in.URL, in.Token, in.Org, in.Bucket
	cfg.MongoURI = mongo.URI
	cfg.InferenceURL, cfg.CommandURL = "http://127.0.0.1:1", "http://127.0.0.1:1"
	cfg.Listen, cfg.AdminListen = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	cfg.Interval, cfg.RequestTimeout = 3*time.Second, 2*time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- controller.Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("controller did not stop")
		}
	})
	servertest.WaitFor(t, "the controller ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("controller stopped: %v", err)
		default:
		}
		resp, err := http.Get("http://" + cfg.AdminListen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	b := &bench{reg: prometheus.NewRegistry(), hubReg: prometheus.NewRegistry()}
	b.backlog = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_backlog"})
	b.hubReg.MustRegister(b.backlog)
	b.backlog.Set(17)
	hub := httptest.NewServer(promhttp.HandlerFor(b.hubReg, promhttp.HandlerOpts{}))
	t.Cleanup(hub.Close)
	watcher := pipeline.New([]pipeline.Target{{Name: "hub", URL: hub.URL}, {Name: "sender", URL: "http://127.0.0.1:1/metrics"}}, time.Second, nil)
	watcher.ScrapeAll(context.Background())

	line, err := auth.Line("kim", password)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.ParseUsers(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := room.New(room.Options{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Close)
	if b.ctl, err = control.New(control.Options{URL: "http://" + cfg.Listen, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	s, err := web.New(web.Options{Users: users, Room: rd, Controller: b.ctl, Pipeline: watcher, Stale: 5 * time.Minute, Registerer: b.reg})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(s.Handler())
	t.Cleanup(b.srv.Close)
	return b
}

// client is a browser: cookies kept, redirects not followed, so each answer is seen.
func (b *bench) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var hidden = regexp.MustCompile(`name="(csrf|form)" value="([^"]+)"`)

// hiddenFields returns the first csrf and form tokens of a page.
func hiddenFields(body string) (csrf, form string) {
	for _, m := range hidden.FindAllStringSubmatch(body, -1) {
		if m[1] == "csrf" && csrf == "" {
			csrf = m[2]
		}
		if m[1] == "form" && form == "" {
			form = m[2]
		}
	}
	return csrf, form
}

// login logs c in as kim and returns the session's CSRF token.
func (b *bench) login(t *testing.T, c *http.Client) {
	t.Helper()
	_, page := get(t, c, b.srv.URL+"/login")
	csrf, _ := hiddenFields(page)
	resp, body := post(t, c, b.srv.URL+"/login", url.Values{"user": {"kim"}, "password": {password}, "csrf": {csrf}, "next": {"/racks"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/racks" {
		t.Fatalf("login: %s to %q\n%s", resp.Status, resp.Header.Get("Location"), body)
	}
}

func TestLogin(t *testing.T) {
	b := newBench(t)
	c := b.client(t)

	resp, _ := get(t, c, b.srv.URL+"/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2F" {
		t.Fatalf("GET / without a session: %s to %q, want the login page", resp.Status, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/part/room", "/chart/temperature.svg"} {
		if resp, _ := get(t, c, b.srv.URL+p); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %s, want 401", p, resp.Status)
		}
	}
	resp, page := get(t, c, b.srv.URL+"/login?next=//evil.example/x")
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("security headers missing: %v", resp.Header)
	}
	csrf, _ := hiddenFields(page)
	if !strings.Contains(page, `name="next" value="/"`) {
		t.Error("a next pointing at another host was kept")
	}

	for _, tt := range []struct {
		name, user, password string
		withCSRF             bool
		status               int
		say                  string
	}{
		{"no csrf", "kim", password, false, http.StatusForbidden, "login form expired"},
		{"wrong password", "kim", "nope", true, http.StatusUnauthorized, "Wrong user name or password"},
		{"unknown user", "lee", password, true, http.StatusUnauthorized, "Wrong user name or password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"user": {tt.user}, "password": {tt.password}}
			if tt.withCSRF {
				form.Set("csrf", csrf)
			}
			resp, body := post(t, c, b.srv.URL+"/login", form, nil)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.say) {
				t.Errorf("%s, want %d saying %q", resp.Status, tt.status, tt.say)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == "smartx_session" && ck.Value != "" {
					t.Error("a session cookie for a failed login")
				}
			}
			// Each answer carries a fresh login token for the next try.
			_, csrf = get(t, c, b.srv.URL+"/login")
			csrf, _ = hiddenFields(csrf)
		})
	}

	resp, _ = post(t, c, b.srv.URL+"/login", url.Values{"user": {"kim"}, "password": {password}, "csrf": {csrf}, "next": {"/ac"}},
		map[string]string{"X-Forwarded-Proto": "https"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ac" {
		t.Fatalf("login: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "smartx_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v, want HttpOnly, Secure behind TLS, SameSite=Strict", session)
	}
	// The cookie jar keeps Secure cookies off plain http: hand it over as the proxy would.
	c.Jar.SetCookies(mustURL(t, b.srv.URL), []*http.Cookie{{Name: session.Name, Value: session.Value}})
	if resp, body := get(t, c, b.srv.URL+"/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "kim") {
		t.Fatalf("GET / after login: %s", resp.Status)
	}

	// Logout needs the CSRF token, and ends the session.
	_, page = get(t, c, b.srv.URL+"/")
	sessCSRF, _ := hiddenFields(page)
	if resp, _ := post(t, c, b.srv.URL+"/logout", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF: %s, want 403", resp.Status)
	}
	post(t, c, b.srv.URL+"/logout", url.Values{"csrf": {sessCSRF}}, nil)
	c.Jar.SetCookies(mustURL(t, b.srv.URL), []*http.Cookie{{Name: session.Name, Value: session.Value}})
	if resp, _ := get(t, c, b.srv.URL+"/part/room"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session outlived logout: %s", resp.Status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Guessing is slowed per user name: after five wrong tries even the right password
// waits, with Retry-After, and the attempts are counted by result.
func TestLoginRateLimited(t *testing.T) {
	b := newBench(t)
	c := b.client(t)
	try := func(pw string) *http.Response {
		_, page := get(t, c, b.srv.URL+"/login")
		csrf, _ := hiddenFields(page)
		resp, _ := post(t, c, b.srv.URL+"/login", url.Values{"user": {"kim"}, "password": {pw}, "csrf": {csrf}}, nil)
		return resp
	}
	for i := range 5 {
		if resp := try("guess" + strconv.Itoa(i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("try %d: %s, want 401", i+1, resp.Status)
		}
	}
	resp := try(password)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th try: %s (Retry-After %q), want 429 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	if got := servertest.Metric(t, b.reg, "dashboard_logins_total", "result", "limited"); got != 1 {
		t.Errorf("limited logins counted %g, want 1", got)
	}
	if got := servertest.Metric(t, b.reg, "dashboard_logins_total", "result", "wrong"); got != 5 {
		t.Errorf("wrong logins counted %g, want 5", got)
	}
}

// Every view shows what InfluxDB and the controller hold.
func TestViews(t *testing.T) {
	b := newBench(t)
	c := b.client(t)
	b.login(t, c)
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/", []string{"sector-a", `data-figure="temperature">23.4<`, "sector-b", `class="sector alarm"`, "above the 27 °C limit",
			`data-figure="outside-temperature">4.0<`, "Clouds", `data-figure="avg-temperature">25.6<`, `class="sector stale"`, "/chart/temperature.svg?range=6h"}},
		{"/?range=24h", []string{"/chart/humidity.svg?range=24h", `href="/?range=24h" aria-current="true"`}},
		{"/ac", []string{`data-device="pi-1"`, `data-figure="reported">24<`, "Raise pi-1 by one degree", `name="form" value=`, "No change audited yet"}},
		{"/racks", []string{`data-figure="cpu">12.5<`, `data-figure="avg-disk">55.0 %<`, "pi-9 <span class=\"badge\">stale</span>", "1 Pi has not reported"}},
		{"/health", []string{`data-figure="backlog">17<`, "sender: Get", `data-figure="lag">–<`}},
		{"/part/racks", []string{`data-figure="mem">40.0<`}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, c, b.srv.URL+tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s", resp.Status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %q", w)
				}
			}
			if t.Failed() {
				t.Log(body)
			}
		})
	}
	resp, body := get(t, c, b.srv.URL+"/chart/temperature.svg?range=24h&theme=dark")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, "sector-a") || !strings.Contains(body, "outside") {
		t.Errorf("temperature chart: %s %s, want an SVG with the sectors and outside", resp.Status, resp.Header.Get("Content-Type"))
	}
	// Five points over the last few minutes of a 24 h range still draw as lines of
	// five points (the chart's frame is a path of four).
	if _, body := get(t, c, b.srv.URL+"/chart/humidity.svg?range=24h"); !regexp.MustCompile(`d="M[^"]*(L[^"]*){4}"`).MatchString(body) {
		t.Error("the humidity chart draws no line through the sectors' five points")
	}
	if resp, body := get(t, c, b.srv.URL+"/chart/setpoints.svg"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "pi-1 recommended") {
		t.Errorf("set-point chart: %s, want pi-1's recommendation in it", resp.Status)
	}
	if resp, _ := get(t, c, b.srv.URL+"/chart/nope.svg"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown chart: %s, want 404", resp.Status)
	}
}

// Bad control requests each get a clear error and change nothing: the controller's
// audit trail stays empty. A good one reaches the controller, which audits it with the
// user's name; sent again, it is refused as a replay.
func TestControlRefusesBadInput(t *testing.T) {
	b := newBench(t)
	c := b.client(t)
	b.login(t, c)
	fresh := func() (csrf, form string) {
		_, page := get(t, c, b.srv.URL+"/ac")
		return hiddenFields(page)
	}
	js := map[string]string{"Accept": "application/json"}
	csrf, _ := fresh()
	anon := b.client(t)
	for _, tt := range []struct {
		name   string
		client *http.Client
		device string
		form   func() url.Values
		header map[string]string
		status int
		reason string
		say    string
	}{
		{"no session", anon, "pi-1", func() url.Values { _, f := fresh(); return url.Values{"csrf": {csrf}, "form": {f}, "action": {"up"}} }, js, 401, "no_session", "Not logged in"},
		{"wrong csrf", c, "pi-1", func() url.Values {
			_, f := fresh()
			return url.Values{"csrf": {"x" + csrf}, "form": {f}, "action": {"up"}}
		}, js, 403, "csrf", "security token"},
		{"no csrf", c, "pi-1", func() url.Values { _, f := fresh(); return url.Values{"form": {f}, "action": {"up"}} }, js, 403, "csrf", "security token"},
		{"another site", c, "pi-1", func() url.Values { s, f := fresh(); return url.Values{"csrf": {s}, "form": {f}, "action": {"up"}} },
			map[string]string{"Accept": "application/json", "Origin": "https://evil.example"}, 403, "origin", "another site"},
		{"made-up form", c, "pi-1", func() url.Values {
			s, _ := fresh()
			return url.Values{"csrf": {s}, "form": {"made-up"}, "action": {"up"}}
		}, js, 409, "expired_form", "expired"},
		{"out of range", c, "pi-1", func() url.Values {
			s, f := fresh()
			return url.Values{"csrf": {s}, "form": {f}, "action": {"set"}, "setpoint": {"35"}}
		}, js, 400, "out_of_range", "outside the allowed 16–30 °C"},
		{"half degree", c, "pi-1", func() url.Values {
			s, f := fresh()
			return url.Values{"csrf": {s}, "form": {f}, "action": {"set"}, "setpoint": {"24.5"}}
		}, js, 400, "bad_form", "not a whole number"},
		{"unknown device", c, "pi-7", func() url.Values {
			s, f := fresh()
			return url.Values{"csrf": {s}, "form": {f}, "action": {"set"}, "setpoint": {"24"}}
		}, js, 404, "unknown_device", `Unknown air conditioner`},
		{"unknown action", c, "pi-1", func() url.Values { s, f := fresh(); return url.Values{"csrf": {s}, "form": {f}, "action": {"boost"}} }, js, 400, "bad_form", "Unknown action"},
		{"bad hours", c, "pi-1", func() url.Values {
			s, f := fresh()
			return url.Values{"csrf": {s}, "form": {f}, "action": {"set"}, "setpoint": {"24"}, "hours": {"99"}}
		}, js, 400, "bad_form", "1 to 24 hours"},
		{"cancel without override", c, "pi-1", func() url.Values { s, f := fresh(); return url.Values{"csrf": {s}, "form": {f}, "action": {"cancel"}} }, js, 409, "no_override", "no manual set-point"},
		{"up with the set-point unknown", c, "pi-2", func() url.Values { s, f := fresh(); return url.Values{"csrf": {s}, "form": {f}, "action": {"up"}} }, js, 409, "no_setpoint", "not known yet"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := servertest.Metric(t, b.reg, "dashboard_control_rejected_total", "reason", tt.reason)
			resp, body := post(t, tt.client, b.srv.URL+"/ac/"+tt.device, tt.form(), tt.header)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.say) {
				t.Errorf("%s %s, want %d saying %q", resp.Status, body, tt.status, tt.say)
			}
			if got := servertest.Metric(t, b.reg, "dashboard_control_rejected_total", "reason", tt.reason) - before; got != 1 {
				t.Errorf("rejections of reason %s rose by %g, want 1", tt.reason, got)
			}
		})
	}
	entries, err := b.ctl.Audit(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("bad requests changed the audit trail: %+v", entries)
	}

	// A good request: the controller takes it, cannot reach the Pi, and audits it with
	// the user's name.
	s, f := fresh()
	good := url.Values{"csrf": {s}, "form": {f}, "action": {"set"}, "setpoint": {"25"}, "hours": {"2"}}
	resp, body := post(t, c, b.srv.URL+"/ac/pi-1", good, js)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "did not take it") {
		t.Errorf("good request with the Pi down: %s %s, want 502 from the controller", resp.Status, body)
	}
	entries, err = b.ctl.Audit(context.Background(), "pi-1", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Actor != "manual by kim" || entries[0].New == nil || *entries[0].New != 25 || entries[0].Applied {
		t.Fatalf("audit after a good request: %+v, want one unapplied entry by kim to 25", entries)
	}
	// The same form again is a replay: refused, nothing new audited.
	resp, body = post(t, c, b.srv.URL+"/ac/pi-1", good, js)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already sent") {
		t.Errorf("replayed form: %s %s, want 409", resp.Status, body)
	}
	if entries, _ := b.ctl.Audit(context.Background(), "", 100); len(entries) != 1 {
		t.Errorf("a replayed form was audited: %d entries", len(entries))
	}
	// A plain form post (no script) is redirected back to the panel, which says what
	// happened once.
	s, f = fresh()
	resp, _ = post(t, c, b.srv.URL+"/ac/pi-1", url.Values{"csrf": {s}, "form": {f}, "action": {"set"}, "setpoint": {"99"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ac" {
		t.Fatalf("plain post: %s to %q, want 303 to /ac", resp.Status, resp.Header.Get("Location"))
	}
	if _, page := get(t, c, b.srv.URL+"/ac"); !strings.Contains(page, `class="flash" role="status">99 °C is outside`) {
		t.Error("the panel does not say why the plain post was refused")
	}
	if _, page := get(t, c, b.srv.URL+"/ac"); strings.Contains(page, `class="flash"`) {
		t.Error("the message is shown twice")
	}
}

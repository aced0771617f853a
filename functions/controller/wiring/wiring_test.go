package wiring

import (
	"context"
	"encoding/json"
	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/internal/controllertest"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, "github.com/smartx-team/overcloud/functions/controller/")
}

func addr(t *testing.T) string {
	t.Helper()
	p, err := servers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

// The whole controller in process, as the binary runs it, against real InfluxDB and
// FerretDB: it becomes ready, applies the model's set-point, serves the API (a manual
// set-point with the token from a file, the state, the audit trail) and the metrics,
// and stops cleanly on cancel.
func TestRun(t *testing.T) {
	in := servertest.Influx(t)
	mg := servertest.Mongo(t)
	inf := controllertest.NewInference(t, controllertest.Model())
	cc := controllertest.NewCoreCommand(t, "pi-1", "pi-2")
	now := time.Now().UTC()
	for _, dev := range []string{"pi-1", "pi-2"} {
		controllertest.WriteSamples(t, in, dev, "sector-"+dev, controllertest.Minutes(now.Add(-4*time.Minute), 4, 24, func(int) float64 { return 24 })...)
	}
	tokenFile := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(tokenFile, []byte("op-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := Defaults()
	cfg.Devices = "pi-1,pi-2"
	cfg.InfluxURL, cfg.InfluxToken, cfg.InfluxOrg, cfg.InfluxBucket = in.URL, in.Token, in.Org, in.Bucket
	cfg.InferenceURL, cfg.CommandURL, cfg.MongoURI = inf.URL, cc.URL, mg.URI
	cfg.APITokenFile = tokenFile
	cfg.Interval, cfg.RequestTimeout = 2*time.Second, time.Second
	cfg.Listen, cfg.AdminListen = addr(t), addr(t)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, log) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not stop within 30 s")
		}
	}
	defer stop()

	api, admin := "http://"+cfg.Listen, "http://"+cfg.AdminListen
	servertest.WaitFor(t, "/readyz", func() bool { return get(admin+"/readyz") == http.StatusOK })
	servertest.WaitFor(t, "both set-points applied", func() bool { return len(cc.Commands()) >= 2 })
	for _, c := range cc.Commands()[:2] {
		if c.Setpoint != "25" {
			t.Errorf("applied %+v, want 25", c)
		}
	}

	// A manual set-point: refused without the token, taken with it.
	body := `{"setpoint": 22, "user": "kim", "reason": "maintenance", "duration": "30m"}`
	if code, _ := post(t, api+"/api/v1/devices/pi-1/setpoint", body, ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	code, resp := post(t, api+"/api/v1/devices/pi-1/setpoint", body, "op-s3cret")
	if code != http.StatusOK || resp["mode"] != "override" {
		t.Fatalf("manual set-point: %d %v", code, resp)
	}
	var st struct {
		Ready   bool `json:"ready"`
		Devices []struct {
			Device  string  `json:"device"`
			Mode    string  `json:"mode"`
			Current float64 `json:"current_setpoint"`
		} `json:"devices"`
	}
	getJSON(t, api+"/api/v1/state", &st)
	if !st.Ready || len(st.Devices) != 2 || st.Devices[0].Mode != "override" || st.Devices[0].Current != 22 || st.Devices[1].Current != 25 {
		t.Errorf("state %+v", st)
	}
	var audit struct {
		Entries []struct {
			Actor  string `json:"actor"`
			Action string `json:"action"`
		} `json:"entries"`
	}
	getJSON(t, api+"/api/v1/audit?device=pi-1", &audit)
	if len(audit.Entries) < 2 || audit.Entries[0].Actor != "manual by kim" || audit.Entries[len(audit.Entries)-1].Action != "auto" {
		t.Errorf("audit %+v", audit)
	}
	fams, err := promscrape.Scrape(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"controller_decisions_total", "controller_fallbacks_total", "controller_stale_sectors",
		"controller_apply_errors_total", "controller_overrides", "controller_recommended_setpoint_celsius", "go_goroutines"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if v, _ := fams.Value("controller_overrides"); v != 1 {
		t.Errorf("controller_overrides = %v", v)
	}
	stop()
	for _, secret := range []string{"op-s3cret"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %s", secret)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"controller starting"`) {
		t.Errorf("no start line in %s", logs.String())
	}
}

func get(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func post(t *testing.T, url, body, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
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
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// syncBuffer is a log buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

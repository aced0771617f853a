package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/responses"
)

// TestRegisterSendCommand runs two simulated devices against a hub that demands
// tokens: both register (the second meets 409 for the shared profile and service,
// and so does a restart), every event passes EdgeX validation, a set-point command
// on the command endpoint changes the room and is reported as a reading.
func TestRegisterSendCommand(t *testing.T) {
	t.Parallel()
	bin := firmwareBinary(t)
	tokens := map[string]string{"pi-a": "token-a", "pi-b": "token-b"}
	h := newHub(t, tokens)
	dir := t.TempDir()
	port := freePort(t)
	cmdURL := fmt.Sprintf("http://127.0.0.1:%d", port)

	a := startProc(t, "pi-a", append([]string{bin}, firmwareArgs(h.URL(), "pi-a", filepath.Join(dir, "a.db"),
		"--command-listen", fmt.Sprintf("127.0.0.1:%d", port), "--command-url", cmdURL)...),
		cleanEnv("SMARTX_TOKEN=token-a", "SMARTX_COMMAND_TOKEN=cmd-secret"))
	b := startProc(t, "pi-b", append([]string{bin}, firmwareArgs(h.URL(), "pi-b", filepath.Join(dir, "b.db"))...),
		cleanEnv("SMARTX_TOKEN=token-b"))

	waitFor(t, 30*time.Second, "10 events of each device", func() bool {
		return len(h.Readings("pi-a")) >= 60 && len(h.Readings("pi-b")) >= 60
	})
	c := h.Counts()
	if c.Profiles["smartx-pi-sensor"] != 2 || c.Services["pi-a-service"] != 1 || c.Services["pi-b-service"] != 1 || c.Devices["pi-a"] != 1 || c.Devices["pi-b"] != 1 {
		t.Errorf("registrations = %+v, want the shared profile added twice (201 then 409), and each device and its own service once", c)
	}
	want := []string{"cpu", "disk", "humidity", "mem", "setpoint", "temperature"}
	for _, d := range []string{"pi-a", "pi-b"} {
		rs := h.Readings(d)
		if got := resources(rs); !slices.Equal(got, want) {
			t.Errorf("%s resources = %v, want %v", d, got, want)
		}
		for _, r := range rs {
			if r.Location != "sector-9" || r.Profile != "smartx-pi-sensor" || r.Source != "room" {
				t.Fatalf("%s reading %+v: want location sector-9, profile smartx-pi-sensor, source room", d, r)
			}
		}
	}

	// Commands: the token is required, bad values are refused, a good one applies.
	put := func(token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, cmdURL+"/api/v3/device/name/pi-a/setpoint", strings.NewReader(body))
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
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		token, body string
		code        int
	}{
		{"", `{"setpoint":"20"}`, http.StatusUnauthorized},
		{"wrong", `{"setpoint":"20"}`, http.StatusUnauthorized},
		{"cmd-secret", `{"setpoint":"35"}`, http.StatusBadRequest},
		{"cmd-secret", `{"setpoint":"cold"}`, http.StatusBadRequest},
		{"cmd-secret", `{"temperature":"20"}`, http.StatusBadRequest},
		{"cmd-secret", `{"setpoint":"18"}`, http.StatusOK},
	} {
		if code, body := put(tc.token, tc.body); code != tc.code {
			t.Errorf("PUT %s with token %q = %d %s, want %d", tc.body, tc.token, code, body, tc.code)
		}
	}
	waitFor(t, 10*time.Second, "the set-point change reported as a reading", func() bool {
		for _, r := range h.Readings("pi-a") {
			if r.Source == "setpoint" && r.Resource == "setpoint" && r.Value == 18 {
				return true
			}
		}
		return false
	})
	// GET returns the set-point in force as an EdgeX event.
	req, _ := http.NewRequest(http.MethodGet, cmdURL+"/api/v3/device/name/pi-a/setpoint", nil)
	req.Header.Set("Authorization", "Bearer cmd-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var er responses.EventResponse
	err = json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(er.Event.Readings) != 1 || er.Event.Readings[0].Value != "1.800000e+01" {
		t.Errorf("GET setpoint = %d %+v (%v), want one reading 1.800000e+01", resp.StatusCode, er, err)
	}
	if !a.logHas(`"msg":"set-point changed"`) {
		t.Error("the set-point change was not logged")
	}
	if a.logHas("token-a") || a.logHas("cmd-secret") {
		t.Error("a token appears in the log")
	}

	// A restart registers again (409s) and continues the sequence.
	a.stop()
	before := len(h.Readings("pi-a"))
	a2 := startProc(t, "pi-a-again", append([]string{bin}, firmwareArgs(h.URL(), "pi-a", filepath.Join(dir, "a.db"))...),
		cleanEnv("SMARTX_TOKEN=token-a"))
	waitFor(t, 20*time.Second, "events after the restart", func() bool { return len(h.Readings("pi-a")) >= before+30 })
	if got := h.Counts().Devices["pi-a"]; got != 2 {
		t.Errorf("pi-a registered %d times, want 2 (the second answered 409)", got)
	}
	a2.stop()
	b.stop()
	checkExactlyOnce(t, h, "pi-a", filepath.Join(dir, "a.db"))
	checkExactlyOnce(t, h, "pi-b", filepath.Join(dir, "b.db"))
	// The set-point is remembered across the restart.
	for _, r := range slices.Backward(h.Readings("pi-a")) {
		if r.Resource == "setpoint" {
			if r.Value != 18 {
				t.Errorf("set-point after restart = %v, want 18", r.Value)
			}
			break
		}
	}
}

// TestWrongTokenKeepsReadings: a hub that refuses the token gets nothing, and the
// firmware keeps every reading until a restart with the right token delivers them,
// from seq 1, in order.
func TestWrongTokenKeepsReadings(t *testing.T) {
	t.Parallel()
	bin := firmwareBinary(t)
	h := newHub(t, map[string]string{"pi-t": "right"})
	q := filepath.Join(t.TempDir(), "q.db")
	p := startProc(t, "pi-t-wrong", append([]string{bin}, firmwareArgs(h.URL(), "pi-t", q)...), cleanEnv("SMARTX_TOKEN=wrong"))
	waitFor(t, 20*time.Second, "refused attempts", func() bool { return h.Counts().Unauthorized >= 3 })
	p.stop()
	if n := len(h.Readings("pi-t")); n != 0 {
		t.Fatalf("hub stored %d readings sent with a wrong token", n)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokFile, "right\n")
	p = startProc(t, "pi-t-right", append([]string{bin}, firmwareArgs(h.URL(), "pi-t", q, "--token-file", tokFile)...), cleanEnv())
	waitFor(t, 20*time.Second, "the backlog", func() bool { return len(h.Readings("pi-t")) >= 60 })
	p.stop()
	checkExactlyOnce(t, h, "pi-t", q)
}

// TestHubOutageAndPowerCut is the outage test: the hub is down for two
// minutes; halfway the device loses power (SIGKILL) and boots again with its backlog.
// When the hub returns, every reading arrives exactly once, in order.
func TestHubOutageAndPowerCut(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("takes two and a half minutes")
	}
	bin := firmwareBinary(t)
	h := newHub(t, map[string]string{"pi-o": "tok"})
	q := filepath.Join(t.TempDir(), "q.db")
	args := append([]string{bin}, firmwareArgs(h.URL(), "pi-o", q, "--interval", "500ms")...)
	env := cleanEnv("SMARTX_TOKEN=tok")

	p := startProc(t, "pi-o-1", args, env)
	waitFor(t, 20*time.Second, "first readings", func() bool { return len(h.Readings("pi-o")) >= 30 })
	h.Stop()
	outage := time.Now()
	atStop := len(h.Readings("pi-o"))

	time.Sleep(time.Minute)
	p.kill() // power cut with a minute of backlog
	p = startProc(t, "pi-o-2", args, env)
	time.Sleep(time.Until(outage.Add(2 * time.Minute)))
	if err := h.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Logf("hub back after %v", time.Since(outage).Round(time.Second))
	// Drained: the newest reading the hub has is fresh, and the firmware has found its
	// queue empty once (which it logs); stopping it before that raced with the drain.
	waitFor(t, 30*time.Second, "the backlog to drain", func() bool {
		rs := h.Readings("pi-o")
		return len(rs) > atStop && time.Since(time.Unix(0, rs[len(rs)-1].Origin)) < 2*time.Second && p.logHas("hub reachable again")
	})
	p.stop()
	n, last := checkExactlyOnce(t, h, "pi-o", q)
	// About 2 minutes at 2 events/s, 6 readings each, minus the seconds of boot.
	if n-atStop < 1000 {
		t.Errorf("only %d readings taken during the outage; the firmware did not keep sampling", n-atStop)
	}
	t.Logf("%d readings delivered (seq 1..%d), %d during the outage, %d duplicates deduplicated by id",
		n, last, n-atStop, h.Counts().Duplicates)
	if !p.logHas("hub reachable again") {
		t.Error("recovery not logged")
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

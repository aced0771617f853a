package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// realEdgeX is EdgeX 4.0.2's core services and a few Pis running our firmware against
// them, as a user with an EdgeX hub runs it.
type realEdgeX struct {
	*servers.EdgeX
	bus  *servers.MQTT
	pis  map[string]*servers.Proc
	dirs map[string]string
	cmds map[string]string // device -> its command endpoint
}

func startRealEdgeX(t *testing.T, pis ...string) *realEdgeX {
	t.Helper()
	e, bus := servertest.EdgeX(t, servers.EdgeXOptions{QoS: 1})
	r := &realEdgeX{EdgeX: e, bus: bus, pis: map[string]*servers.Proc{}, dirs: map[string]string{}, cmds: map[string]string{}}
	for i, pi := range pis {
		proc, dir, url := servertest.Pi(t, localrun.Pi{
			Device: pi, Location: fmt.Sprintf("sector-%d", i+1), Interval: 200 * time.Millisecond,
			HubURL: e.DataURL, MetadataURL: e.MetadataURL,
		})
		r.pis[pi], r.dirs[pi], r.cmds[pi] = proc, dir, url
	}
	return r
}

// eventCount asks core-data how many events it holds for device.
func (r *realEdgeX) eventCount(t *testing.T, device string) int {
	t.Helper()
	resp, err := http.Get(r.DataURL + "/api/v3/event/count/device/name/" + device)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var c struct{ Count int }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("event count of %s: %s", device, b)
	}
	return c.Count
}

// getJSON GETs url into v (nil: discard) and returns the status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// readingCount asks core-data how many readings it holds for device.
func (r *realEdgeX) readingCount(t *testing.T, device string) int {
	t.Helper()
	var c struct{ Count int }
	if status := getJSON(t, r.DataURL+"/api/v3/reading/count/device/name/"+device, &c); status != http.StatusOK {
		t.Fatalf("reading count of %s: HTTP %d", device, status)
	}
	return c.Count
}

// setpointOf reads a Pi's set-point through core-command.
func (r *realEdgeX) setpointOf(t *testing.T, device string) string {
	t.Helper()
	var ev struct {
		Event struct {
			Readings []struct{ ResourceName, Value string }
		}
	}
	if status := getJSON(t, r.CommandURL+"/api/v3/device/name/"+device+"/setpoint", &ev); status != http.StatusOK {
		t.Fatalf("GET %s's set-point through core-command: HTTP %d", device, status)
	}
	for _, rd := range ev.Event.Readings {
		if rd.ResourceName == "setpoint" {
			return rd.Value
		}
	}
	t.Fatalf("%s's set-point answer has no setpoint reading: %+v", device, ev)
	return ""
}

// Three Pis running our firmware against EdgeX 4.0.2's own core services, on their
// PostgreSQL and message bus:
//   - each registers (core-metadata would wait 5 s for a device service on the bus to
//     validate the device: the firmware bypasses that) and owns its device service,
//     whose base address is the Pi's own command endpoint;
//   - every command core-command offers for our profile answers;
//   - a set-point PUT through core-command reaches the Pi it names, and only that one;
//   - what core-data stores of each Pi is what its queue says was acknowledged.
func TestFirmwareAgainstRealEdgeX(t *testing.T) {
	t.Parallel()
	pis := []string{"pi-1", "pi-2", "pi-3"}
	r := startRealEdgeX(t, pis...)
	servertest.WaitFor(t, "an event of every Pi in core-data", func() bool {
		for _, pi := range pis {
			if r.eventCount(t, pi) == 0 {
				return false
			}
		}
		return true
	})
	for _, pi := range pis {
		var svc struct {
			Service struct{ BaseAddress string }
		}
		if status := getJSON(t, r.MetadataURL+"/api/v3/deviceservice/name/"+pi+"-service", &svc); status != http.StatusOK || svc.Service.BaseAddress != r.cmds[pi] {
			t.Errorf("%s's device service: HTTP %d, base address %q; want its own, %s", pi, status, svc.Service.BaseAddress, r.cmds[pi])
		}
		var offered struct {
			DeviceCoreCommand struct {
				CoreCommands []struct {
					Name     string
					Get, Set bool
				}
			}
		}
		if status := getJSON(t, r.CommandURL+"/api/v3/device/name/"+pi, &offered); status != http.StatusOK {
			t.Fatalf("core-command's commands of %s: HTTP %d", pi, status)
		}
		if len(offered.DeviceCoreCommand.CoreCommands) == 0 {
			t.Fatalf("core-command offers no command for %s", pi)
		}
		for _, c := range offered.DeviceCoreCommand.CoreCommands {
			if c.Get {
				if status := getJSON(t, r.CommandURL+"/api/v3/device/name/"+pi+"/"+c.Name, nil); status != http.StatusOK {
					t.Errorf("core-command offers GET %s of %s, which answers HTTP %d", c.Name, pi, status)
				}
			}
		}
	}

	req, err := http.NewRequest(http.MethodPut, r.CommandURL+"/api/v3/device/name/pi-2/setpoint", strings.NewReader(`{"setpoint": "22"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT pi-2's set-point through core-command: HTTP %d: %s", resp.StatusCode, b)
	}
	if got := r.setpointOf(t, "pi-2"); got != "2.200000e+01" && got != "22" {
		t.Errorf("pi-2's set-point after the PUT: %q, want 22", got)
	}
	for _, pi := range []string{"pi-1", "pi-3"} {
		if got := r.setpointOf(t, pi); got != "2.400000e+01" && got != "24" {
			t.Errorf("%s's set-point: %q, want its own 24: the command went to the wrong Pi", pi, got)
		}
	}

	time.Sleep(2 * time.Second)
	for _, pi := range pis {
		if err := r.pis[pi].Stop(); err != nil {
			t.Fatal(err)
		}
		handed := handedToHub(t, localrun.PiQueue(r.dirs[pi]), pi)
		if stored := r.readingCount(t, pi); stored != handed || handed == 0 {
			t.Errorf("%s: core-data holds %d readings, the firmware's queue says %d were acknowledged", pi, stored, handed)
		} else {
			t.Logf("%s: %d readings acknowledged, %d in core-data", pi, handed, stored)
		}
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/sender/store"
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

// startRealEdgeX starts the core services (QoS 1, as the EdgeX component sets it)
// and a Pi for each name in pis, the i-th in sector-<i+1>.
func startRealEdgeX(t *testing.T, pis ...string) *realEdgeX {
	t.Helper()
	e, bus := servertest.EdgeX(t, servers.EdgeXOptions{QoS: 1})
	r := &realEdgeX{EdgeX: e, bus: bus, pis: map[string]*servers.Proc{}, dirs: map[string]string{}, cmds: map[string]string{}}
	r.startPis(t, nil, pis...)
	return r
}

// startPis starts a Pi for each name, with the firmware's extra args.
func (r *realEdgeX) startPis(t *testing.T, args []string, pis ...string) {
	t.Helper()
	for i, pi := range pis {
		proc, dir, url := servertest.Pi(t, localrun.Pi{
			Device: pi, Location: fmt.Sprintf("sector-%d", i+1), Interval: 200 * time.Millisecond,
			HubURL: r.DataURL, MetadataURL: r.MetadataURL, Args: args,
		})
		r.pis[pi], r.dirs[pi], r.cmds[pi] = proc, dir, url
	}
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

// The whole EdgeX path, as a user with an EdgeX hub runs it: three Pis post to real
// core-data, which publishes on mosquitto with QoS 1; the bridge, a process in edgex
// mode with a persistent session, relays through its MongoDB outbox to Kafka; the
// sender writes InfluxDB. Under load the bridge is SIGKILLed twice and restarted, and
// core-data is frozen for longer than the firmware's HTTP timeout (the Pis re-post,
// core-data stores and publishes those events again). Every reading a Pi's queue says
// was acknowledged is in InfluxDB with the Pi's location, none missing, none extra (a
// duplicate would overwrite its point there), and in Kafka, where the records per
// reading id give the duplicates the faults caused as a figure.
func TestEdgeXPathToInfluxDB(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e, bus := servertest.EdgeX(t, servers.EdgeXOptions{QoS: 1})
	path, err := localrun.Start(ctx, localrun.Options{Dir: t.TempDir(), HubEnv: []string{
		"HUB_MODE=edgex", "HUB_MQTT_URL=" + bus.URL, "HUB_MQTT_CLIENT_ID=smartx-hubbridge-e2e",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := path.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	r := &realEdgeX{EdgeX: e, bus: bus, pis: map[string]*servers.Proc{}, dirs: map[string]string{}, cmds: map[string]string{}}
	pis := []string{"pi-1", "pi-2", "pi-3"}
	r.startPis(t, []string{"--http-timeout", "1s"}, pis...)
	for _, pi := range pis {
		servertest.WaitFor(t, pi+"'s readings in InfluxDB", func() bool { return storedValues(t, path, pi, "") > 0 })
	}

	for range 2 {
		time.Sleep(2 * time.Second)
		if err := path.Hub.Kill(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		start(t, "hub", path.Hub.Start)
	}
	if err := e.Data.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := e.Data.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)

	acked := map[string]map[uint64]bool{}
	for i, pi := range pis {
		if err := r.pis[pi].Stop(); err != nil {
			t.Fatal(err)
		}
		acked[pi] = ackedSeqs(t, localrun.PiQueue(r.dirs[pi]), pi)
		handed := len(acked[pi])
		located := fmt.Sprintf(` and r.%s == "sector-%d"`, store.TagLocation, i+1)
		waitStored(t, path, pi, located, handed)
		if all := storedValues(t, path, pi, ""); all != int64(handed) {
			t.Errorf("%s: InfluxDB holds %d values, %d of them with its location; the Pi's queue says %d were acknowledged", pi, all, storedValues(t, path, pi, located), handed)
		}
		inCore := r.readingCount(t, pi)
		t.Logf("%s: %d readings acknowledged; core-data holds %d (%d stored again after a re-post); InfluxDB: none missing, none extra, with location sector-%d", pi, handed, inCore, inCore-handed, i+1)
	}
	// InfluxDB is complete, so the relay has put everything in Kafka.
	checkPisInKafka(t, path.Kafka.Addr, acked)
}

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/device/queue"
	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// TestFirmwareThroughThePath runs the real firmware (--simulate) on three simulated
// Pis against the real hub, through Kafka and the sender into InfluxDB, with a hub
// outage in the middle, a Pi's power cut and reboot during it, and a set-point
// command through the hub's core-command endpoint: every reading a Pi handed to the
// hub is in InfluxDB, none missing, none extra (a duplicate would overwrite its point
// there, so this is what InfluxDB can show), and in Kafka, where the records per
// reading id give the duplicates the faults caused as a figure; what a Pi still holds
// is in its queue, and the set-point reached the Pi (its setpoint readings say 22).
func TestFirmwareThroughThePath(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pis := []string{"pi-1", "pi-2", "pi-3"}
	tokens := map[string]string{}
	for _, pi := range pis {
		tokens[pi] = "token-of-" + pi
	}
	dir := t.TempDir()
	path, err := localrun.Start(ctx, localrun.Options{Dir: dir, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := path.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	procs := map[string]*servers.Proc{}
	for i, pi := range pis {
		proc, _, err := path.StartPi(ctx, localrun.Pi{
			Device: pi, Token: tokens[pi], Location: fmt.Sprintf("sector-%d", i+1), Interval: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		procs[pi] = proc
	}

	time.Sleep(3 * time.Second)
	// Through the hub's core-command endpoint, as the controller sends it in
	// standalone mode: the hub forwards it to pi-1's registered command endpoint.
	setSetpoint(t, path.HubURL, "pi-1", "22")
	// The hub goes away for a while: the Pis keep sampling into their queues. Halfway,
	// pi-2 loses power (SIGKILL) and boots again with its backlog.
	if err := path.Hub.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := procs["pi-2"].Kill(); err != nil {
		t.Fatal(err)
	}
	start(t, "pi-2", procs["pi-2"].Start)
	time.Sleep(3 * time.Second)
	start(t, "hub", path.Hub.Start)
	// A Pi's retry wait has grown towards retry-max during the outage, so each one
	// is given until it reports its backlog delivered, then a little live traffic.
	for _, pi := range pis {
		servertest.WaitFor(t, pi+" to deliver its backlog", func() bool {
			return strings.Contains(procs[pi].Tail(), "hub reachable again")
		})
	}
	time.Sleep(2 * time.Second)
	for _, pi := range pis {
		if err := procs[pi].Stop(); err != nil {
			t.Fatalf("stop %s: %v", pi, err)
		}
	}

	acked := map[string]map[uint64]bool{}
	for _, pi := range pis {
		acked[pi] = ackedSeqs(t, path.PiQueuePath(pi), pi)
		handed := len(acked[pi])
		if handed == 0 {
			t.Fatalf("%s handed no reading to the hub", pi)
		}
		stored := waitStored(t, path, pi, "", handed)
		if stored != int64(handed) {
			t.Errorf("%s: InfluxDB holds %d values, the hub acknowledged %d readings", pi, stored, handed)
		} else {
			t.Logf("%s: %d readings in InfluxDB, none missing, none extra", pi, stored)
		}
	}
	// InfluxDB is complete, so the relay has put everything in Kafka.
	checkPisInKafka(t, path.Kafka.Addr, acked)
	n, err := path.CountValues(ctx, `r._measurement == "pi-1" and r._field == "setpoint" and r._value == 22.0`)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("the set-point 22 sent to pi-1 never reached InfluxDB as a reading; pi-1's log:\n%s", procs["pi-1"].Tail())
	}
}

// setSetpoint sends a set-point command to core-command's API at base.
func setSetpoint(t *testing.T, base, device, value string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/api/v3/device/name/"+device+"/setpoint",
		strings.NewReader(`{"setpoint": "`+value+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set-point command: HTTP %d, want 200", resp.StatusCode)
	}
}

// handedToHub opens a stopped Pi's queue: every sequence number it gave out and no
// longer holds was acknowledged by the hub (nothing was dropped, which it checks).
func handedToHub(t *testing.T, file, device string) int {
	t.Helper()
	return len(ackedSeqs(t, file, device))
}

// ackedSeqs opens a stopped Pi's queue and returns the sequence numbers the hub
// acknowledged: every one it gave out (1 to the last) and no longer holds. It fails
// if the queue dropped a reading or found one corrupt: then that would not hold.
func ackedSeqs(t *testing.T, file, device string) map[uint64]bool {
	t.Helper()
	q, err := queue.Open(file, queue.Options{Max: 1 << 30, Device: device})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := q.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Dropped != 0 || st.Corrupt != 0 {
		t.Fatalf("%s: queue dropped %d readings and found %d corrupt", device, st.Dropped, st.Corrupt)
	}
	recs, err := q.Peek(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(map[uint64]bool, st.LastSeq)
	for seq := uint64(1); seq <= st.LastSeq; seq++ {
		acked[seq] = true
	}
	for _, rec := range recs {
		for _, r := range rec.Readings {
			delete(acked, r.Seq)
		}
	}
	return acked
}

// storedValues counts device's reading values in InfluxDB (the weather fields left
// out) whose rows also match the Flux predicate extra (" and ...", or "").
func storedValues(t *testing.T, path *localrun.Path, device, extra string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := path.CountValues(ctx, fmt.Sprintf(`r._measurement == %q and r._field != %q and r._field != %q and r._field != %q`,
		device, store.FieldExtTemperature, store.FieldExtHumidity, store.FieldWeatherStat)+extra)
	if err != nil {
		t.Fatalf("count %s's values in InfluxDB: %v", device, err)
	}
	return n
}

// waitStored waits up to 3 minutes until storedValues reaches want, and returns it.
func waitStored(t *testing.T, path *localrun.Path, device, extra string, want int) int64 {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n := storedValues(t, path, device, extra)
		if n >= int64(want) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: InfluxDB holds %d of the %d readings acknowledged (matching %q)", device, n, want, extra)
		}
		time.Sleep(time.Second)
	}
}

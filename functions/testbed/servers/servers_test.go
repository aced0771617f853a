package servers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// ctxFor returns a context that ends with the test or after d.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// restart stops p, checks that its process is gone, and starts it again.
func restart(t *testing.T, p *servers.Proc) {
	t.Helper()
	stop(t, p)
	servertest.Start(t, p)
}

// stop stops p and checks that its process is gone.
func stop(t *testing.T, p *servers.Proc) {
	t.Helper()
	pid := p.PID()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("%s process %d still exists after Stop (kill 0: %v)", p.Name(), pid, err)
	}
	if p.Running() {
		t.Fatalf("%s Running after Stop", p.Name())
	}
}

// TestToolsInstalled fails, with the install hint, when a server the tests need is
// missing: CI must not pass by skipping them.
func TestToolsInstalled(t *testing.T) {
	for _, name := range []string{"influxd", "ferretdb", "mosquitto"} {
		if _, err := servers.Tool(name); err != nil {
			t.Error(err)
		}
	}
}

func TestFreePort(t *testing.T) {
	p, err := servers.FreePort()
	if err != nil || p <= 0 || p > 65535 {
		t.Fatalf("FreePort() = %d, %v", p, err)
	}
}

func TestBuildGoOncePerProcess(t *testing.T) {
	ctx := ctxFor(t, 5*time.Minute)
	a, err := servers.BuildGo(ctx, servers.KafkadPackage)
	if err != nil {
		t.Fatal(err)
	}
	b, err := servers.BuildGo(ctx, servers.KafkadPackage)
	if err != nil || a != b {
		t.Fatalf("second BuildGo = %q, %v; want %q", b, err, a)
	}
	if _, err := servers.BuildGo(ctx, "./no/such/package"); err == nil || !strings.Contains(err.Error(), "no/such/package") {
		t.Errorf("BuildGo of a missing package = %v; want an error naming it", err)
	}
}

// pointsQuery is the Flux query that reads every point of the test bucket.
func pointsQuery(bucket, measurement string) string {
	return fmt.Sprintf(`from(bucket: %q) |> range(start: 0) |> filter(fn: (r) => r._measurement == %q)`, bucket, measurement)
}

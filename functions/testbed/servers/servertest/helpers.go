package servertest

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
)

// WaitTimeout bounds WaitFor: generous, so that only a hang fails, not a slow machine.
const WaitTimeout = 2 * time.Minute

// WaitFor polls cond every 20 ms until it holds, failing t after WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", WaitTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Metric reads one figure from a registry in process (see promscrape.Families.Value:
// counters and gauges by value, histograms by count, summed over the series that have
// labels); 0 while no such series exists.
func Metric(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	fams, err := promscrape.Gather(g)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := fams.Value(name, labels...)
	return v
}

package main

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestCoresNote(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name   string
		busy   float64
		shares []share
		want   string
	}{
		{"all known", 1.956, []share{{"hub", 0.921}, {"load generator", 0.4}},
			"cores 1.96 of 2 busy: hub 0.92, load generator 0.40"},
		{"a process gone", 1.5, []share{{"hub", 0.9}, {"Kafka", nan}, {"sender", 0.1}},
			"cores 1.50 of 2 busy: hub 0.90, sender 0.10"},
		{"no machine figure", nan, []share{{"hub", 0.9}},
			"cores busy: hub 0.90"},
		{"nothing known", nan, []share{{"hub", nan}},
			"cores busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := coresNote(tc.busy, 2, tc.shares); got != tc.want {
				t.Errorf("coresNote = %q\nwant        %q", got, tc.want)
			}
		})
	}
}

// TestCoreUseCountsThisProcess spins until this process has used half a second of CPU
// and checks that the window shows it, both as this process's share and in the
// machine's busy time, and that a process that is not there is unknown.
func TestCoreUseCountsThisProcess(t *testing.T) {
	if math.IsNaN(machineBusySeconds()) || math.IsNaN(cpuSeconds(os.Getpid())) {
		t.Skip("no /proc here")
	}
	start := time.Now()
	u := startCoreUse([]process{{"me", os.Getpid()}, {"nobody", 1 << 30}})
	from := cpuSeconds(os.Getpid())
	for x := 0; cpuSeconds(os.Getpid())-from < 0.5; x++ {
		_ = x * x
	}
	busy, shares := u.stop()
	secs := time.Since(start).Seconds()
	if len(shares) != 2 || shares[0].name != "me" || shares[1].name != "nobody" {
		t.Fatalf("shares = %v, want me and nobody in that order", shares)
	}
	if !(shares[0].cores > 0) {
		t.Errorf("this process's share = %v cores, want more than 0 after 500 ms of CPU", shares[0].cores)
	}
	// The machine's time and the process's are counted apart, in ticks of 10 ms:
	// allow a tenth of a second between them.
	if !(busy*secs >= shares[0].cores*secs-0.1) {
		t.Errorf("machine busy %.3f s, less than this process alone (%.3f s) over %.3f s", busy*secs, shares[0].cores*secs, secs)
	}
	if !math.IsNaN(shares[1].cores) {
		t.Errorf("a missing process's share = %v, want NaN", shares[1].cores)
	}
}

func TestSettledNote(t *testing.T) {
	for _, tc := range []struct {
		secs float64
		want string
	}{
		{math.Inf(1), ""}, // a closed loop
		{math.NaN(), "not settled within 1m0s, measured anyway; "},
		{3.4, "settled 3 s after the warm-up; "},
	} {
		if got := settledNote(tc.secs); got != tc.want {
			t.Errorf("settledNote(%v) = %q, want %q", tc.secs, got, tc.want)
		}
	}
}

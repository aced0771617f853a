package main

import (
	"context"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/internal/service"
)

func TestMemoryVerdict(t *testing.T) {
	minutes := func(mb ...float64) []float64 { // one minute of samples per value
		var out []float64
		for _, v := range mb {
			for range int(time.Minute / rssEvery) {
				out = append(out, v*1e6)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		rss  []float64
		want string
	}{
		{"flat and small", minutes(100, 104, 105),
			"hub RSS 100 MB in the first minute, 105 MB in the last (+5%), max 105 MB (aim at most 200 MB and flat: met)"},
		{"growing", minutes(100, 120, 150),
			"hub RSS 100 MB in the first minute, 150 MB in the last (+50%), max 150 MB (aim at most 200 MB and flat: not met)"},
		{"flat but too big", minutes(800, 810),
			"hub RSS 800 MB in the first minute, 810 MB in the last (+1%), max 810 MB (aim at most 200 MB and flat: not met)"},
		{"too short", []float64{50e6, 60e6},
			"hub RSS max 60 MB (too short a window to say whether it is flat)"},
		{"nothing sampled", nil,
			"hub RSS max unknown (too short a window to say whether it is flat)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := memoryVerdict(memorySamples{rss: tc.rss}); got != tc.want {
				t.Errorf("memoryVerdict = %q\nwant            %q", got, tc.want)
			}
		})
	}
}

// The live heap is said beside the resident memory once there are two minutes of it.
func TestMemoryVerdictLiveHeap(t *testing.T) {
	samples := func(every time.Duration, mb ...float64) []float64 { // one minute per value
		var out []float64
		for _, v := range mb {
			for range int(time.Minute / every) {
				out = append(out, v*1e6)
			}
		}
		return out
	}
	rss := samples(rssEvery, 90, 100, 105)
	for _, tc := range []struct {
		name string
		live []float64
		want string
	}{
		{"flat heap", samples(liveEvery, 31, 33, 32),
			"hub RSS 90 MB in the first minute, 105 MB in the last (+17%), max 105 MB (aim at most 200 MB and flat: not met); live heap 31 MB in the first minute, 32 MB in the last (+3%)"},
		{"leak", samples(liveEvery, 30, 45, 60),
			"hub RSS 90 MB in the first minute, 105 MB in the last (+17%), max 105 MB (aim at most 200 MB and flat: not met); live heap 30 MB in the first minute, 60 MB in the last (+100%)"},
		{"too few live samples", samples(liveEvery, 31),
			"hub RSS 90 MB in the first minute, 105 MB in the last (+17%), max 105 MB (aim at most 200 MB and flat: not met)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := memoryVerdict(memorySamples{rss: rss, live: tc.live}); got != tc.want {
				t.Errorf("memoryVerdict = %q\nwant            %q", got, tc.want)
			}
		})
	}
}

// The sampler reads this process's real memory, and stops at the end of its window.
func TestSampleRSS(t *testing.T) {
	got := sampleMemory(context.Background(), os.Getpid(), "", 2500*time.Millisecond).rss
	if len(got) != 2 {
		t.Fatalf("%d samples in 2.5 s at one a second; want 2", len(got))
	}
	for _, b := range got {
		if !(b > 1e6) {
			t.Fatalf("sample %v bytes; want this process's resident memory", b)
		}
	}
	if n := sampleMemory(context.Background(), 1<<30, "", 1500*time.Millisecond).rss; len(n) != 0 {
		t.Fatalf("samples of no process: %v", n)
	}
	if !math.IsNaN(maxOf(nil)) || !strings.Contains(megabytes(math.NaN()), "unknown") {
		t.Fatal("no samples must read as unknown")
	}
}

// The live heap comes from a real admin endpoint's metrics, every liveEvery.
func TestSampleLiveHeap(t *testing.T) {
	t.Parallel() // it waits out one liveEvery
	a, err := service.NewAdmin("127.0.0.1:0", service.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	runtime.GC() // go_gc_heap_live_bytes is 0 until a first collection
	window := liveEvery + 5*rssEvery/2
	got := sampleMemory(ctx, os.Getpid(), "http://"+a.Addr(), window)
	if len(got.live) != 1 || !(got.live[0] > 0) {
		t.Fatalf("live heap samples %v in %s; want one, above 0", got.live, window)
	}
	// A busy machine may make the sampler miss a tick; never more than the window holds.
	if n, most := len(got.rss), int(window/rssEvery); n < most/2 || n > most {
		t.Errorf("%d resident samples in %s; want up to %d", n, window, most)
	}
}

func TestHertz(t *testing.T) {
	for in, want := range map[time.Duration]string{time.Second: "1 Hz", overloadInterval: "0.3 Hz", 10 * time.Second: "0.1 Hz", 500 * time.Millisecond: "2 Hz"} {
		if got := hertz(in); got != want {
			t.Errorf("hertz(%s) = %q; want %q", in, got, want)
		}
	}
}

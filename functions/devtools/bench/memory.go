package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/procfs"
)

// rssEvery is how often the hub's resident memory is sampled during a window, and
// liveEvery how often its live heap is (a scrape of its metrics, so less often).
const (
	rssEvery  = time.Second
	liveEvery = 10 * time.Second
)

// memorySamples are a window's samples of a process's memory, in bytes.
type memorySamples struct {
	rss  []float64 // resident memory, every rssEvery
	live []float64 // the Go heap its last collection kept (go_gc_heap_live_bytes), every liveEvery
}

// sampleMemory samples a process's resident memory every rssEvery and, when admin is
// its metrics base, its live heap every liveEvery, for window or until ctx ends. A
// sample that cannot be read is left out.
func sampleMemory(ctx context.Context, pid int, admin string, window time.Duration) memorySamples {
	var out memorySamples
	tick := time.NewTicker(rssEvery)
	defer tick.Stop()
	end := time.After(window)
	// By the clock, not by ticks: a ticker drops ticks its reader misses.
	nextLive := time.Now().Add(liveEvery)
	for {
		select {
		case <-ctx.Done():
			return out
		case <-end:
			return out
		case now := <-tick.C:
			if b := rssBytes(pid); !math.IsNaN(b) {
				out.rss = append(out.rss, b)
			}
			if admin != "" && !now.Before(nextLive) {
				nextLive = nextLive.Add(liveEvery)
				if fams, err := scrape(ctx, admin); err == nil {
					if v := value(fams, "go_gc_heap_live_bytes"); !math.IsNaN(v) {
						out.live = append(out.live, v)
					}
				}
			}
		}
	}
}

// rssBytes is a process's resident memory; NaN if it cannot be read.
func rssBytes(pid int) float64 {
	return fromStat(pid, func(st procfs.ProcStat) float64 { return float64(st.ResidentMemory()) })
}

// maxOf is the largest sample; NaN when there is none.
func maxOf(samples []float64) float64 {
	m := math.NaN()
	for _, v := range samples {
		if math.IsNaN(m) || v > m {
			m = v
		}
	}
	return m
}

func megabytes(b float64) string {
	if math.IsNaN(b) {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MB", b/1e6)
}

// Memory aims of the hub at 10,000 connected devices.
const (
	hubRSSAim = 200e6 // bytes, at most
	// flatGrowth is how much more the hub may hold in the window's last minute than
	// in its first, on average, and still count as flat.
	flatGrowth = 0.10
)

// soak runs n devices, each sending every interval, for window and says how the hub's
// memory went: the average of its first and last minute, the largest sample, and
// whether that meets the aims (at most hubRSSAim, growing at most flatGrowth).
func soak(ctx context.Context, c config, n int, interval, window time.Duration, say func(string, ...any)) (row, error) {
	r, mem, err := measureWhole(ctx, c, n, interval, false, window, say)
	if err != nil {
		return row{}, err
	}
	r.name = fmt.Sprintf("soak, %d devices x %s for %s", n, hertz(interval), window)
	r.note += "; " + memoryVerdict(mem)
	return r, nil
}

// memoryVerdict sums up a window's samples: the aims are the resident memory's; the
// live heap beside it tells a leak (it grows too) from memory the runtime holds.
func memoryVerdict(m memorySamples) string {
	rss := m.rss
	perMinute := int(time.Minute / rssEvery)
	if len(rss) < 2*perMinute {
		return fmt.Sprintf("hub RSS max %s (too short a window to say whether it is flat)", megabytes(maxOf(rss)))
	}
	first, last := mean(rss[:perMinute]), mean(rss[len(rss)-perMinute:])
	growth := last/first - 1
	verdict := "met"
	if maxOf(rss) > hubRSSAim || growth > flatGrowth {
		verdict = "not met"
	}
	out := fmt.Sprintf("hub RSS %s in the first minute, %s in the last (%+.0f%%), max %s (aim at most %s and flat: %s)",
		megabytes(first), megabytes(last), 100*growth, megabytes(maxOf(rss)), megabytes(hubRSSAim), verdict)
	livePerMinute := int(time.Minute / liveEvery)
	if live := m.live; len(live) >= 2*livePerMinute {
		first, last := mean(live[:livePerMinute]), mean(live[len(live)-livePerMinute:])
		out += fmt.Sprintf("; live heap %s in the first minute, %s in the last (%+.0f%%)",
			megabytes(first), megabytes(last), 100*(last/first-1))
	}
	return out
}

func mean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// hertz says a device's rate: "1 Hz", "0.3 Hz".
func hertz(interval time.Duration) string {
	return strconv.FormatFloat(math.Round(10*float64(time.Second)/float64(interval))/10, 'f', -1, 64) + " Hz"
}

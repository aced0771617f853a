package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/procfs"
)

// rssEvery is how often the hub's resident memory is sampled during a window.
const rssEvery = time.Second

// sampleRSS samples a process's resident memory (bytes) every rssEvery for window, or
// until ctx ends, and returns the samples; one that cannot be read is left out.
func sampleRSS(ctx context.Context, pid int, window time.Duration) []float64 {
	var out []float64
	tick := time.NewTicker(rssEvery)
	defer tick.Stop()
	end := time.After(window)
	for {
		select {
		case <-ctx.Done():
			return out
		case <-end:
			return out
		case <-tick.C:
			if b := rssBytes(pid); !math.IsNaN(b) {
				out = append(out, b)
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
	r, rss, err := measureWhole(ctx, c, n, interval, false, window, say)
	if err != nil {
		return row{}, err
	}
	r.name = fmt.Sprintf("soak, %d devices x %s for %s", n, hertz(interval), window)
	r.note += "; " + memoryVerdict(rss)
	return r, nil
}

// memoryVerdict sums up samples taken every rssEvery.
func memoryVerdict(rss []float64) string {
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
	return fmt.Sprintf("hub RSS %s in the first minute, %s in the last (%+.0f%%), max %s (aim at most %s and flat: %s)",
		megabytes(first), megabytes(last), 100*growth, megabytes(maxOf(rss)), megabytes(hubRSSAim), verdict)
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

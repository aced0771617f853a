package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
)

// Overload runs: many devices at a low rate, as a site of plain EdgeX clients sends,
// and the same devices coming back at once with their backlogs after a hub restart.
// Each runs with and without our seq tag (without it, the hub numbers the readings).
const (
	// overloadInterval is 0.3 Hz per device.
	overloadInterval = 3333 * time.Millisecond
	// recoveryLimit is how long the hub may take to acknowledge everything again
	// once the load is one it can carry.
	recoveryLimit = 60 * time.Second
)

// overloadFleet starts a path with n devices at 0.3 Hz that retry a failed post as
// the firmware does (after 1 s, doubling to 1 min, with jitter, never sooner than the
// hub's Retry-After), so that these rows show the hub under the devices it serves.
func overloadFleet(ctx context.Context, c config, n int, noSeq bool) (*localrun.Path, *fleet.Fleet, func(), error) {
	return start(ctx, c, fleet.Options{Devices: n, Interval: overloadInterval, NoSeq: noSeq, Backoff: fleet.FirmwareBackoff()})
}

// runFleet runs f until the returned stop is called (stop waits for it to end;
// calling it again does nothing), after warming up for warm.
func runFleet(ctx context.Context, f *fleet.Fleet, warm time.Duration) (stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(runCtx) // Run ends only when runCtx does
	}()
	time.Sleep(warm)
	return func() {
		cancel()
		<-done
	}
}

// backlog is the readings the devices made that the hub has not acknowledged yet.
func backlog(f *fleet.Fleet) int64 {
	st := f.Stats()
	return st.SampledReadings - st.AckedReadings
}

// caughtUp waits until the devices hold at most one event each (the one being
// posted) and returns how long that took, or NaN after limit.
func caughtUp(ctx context.Context, f *fleet.Fleet, n int, limit time.Duration) float64 {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		if backlog(f) <= int64(2*n) {
			return time.Since(start).Seconds()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return math.NaN()
}

// overloadNote sums up the hub's answers for a row's note.
func overloadNote(ctx context.Context, p *localrun.Path, f *fleet.Fleet, extra string) string {
	fams, err := scrape(ctx, p.HubAdmin)
	shed := math.NaN()
	if err == nil {
		shed = value(fams, "hub_http_errors_total", "status", "503", "reason", "overloaded")
	}
	st := f.Stats()
	return fmt.Sprintf("%s; %d of %d posts refused or unanswered, %.0f shed with 503 + Retry-After",
		extra, st.Failed, st.Posted, shed)
}

// plainLoad runs n devices at 0.3 Hz for the configured duration, then stops making
// readings and measures how long the hub takes to acknowledge what the devices
// still hold.
func plainLoad(ctx context.Context, c config, n int, noSeq bool, say func(string, ...any)) (row, error) {
	p, f, cleanup, err := overloadFleet(ctx, c, n, noSeq)
	if err != nil {
		return row{}, err
	}
	defer cleanup()
	// Warm up until every device has sent its first event.
	stop := runFleet(ctx, f, overloadInterval+2*time.Second)
	defer stop()

	before, err := scrape(ctx, p.SenderAdmin)
	if err != nil {
		return row{}, err
	}
	ackedBefore := f.Stats().AckedReadings
	start := time.Now()
	select {
	case <-ctx.Done():
		return row{}, ctx.Err()
	case <-time.After(c.duration):
	}
	elapsed := time.Since(start).Seconds()
	acked := float64(f.Stats().AckedReadings - ackedBefore)
	stop()
	held := f.Pending()
	drainStart := time.Now()
	drainCtx, cancel := context.WithTimeout(ctx, recoveryLimit)
	drainErr := f.Drain(drainCtx, time.Second)
	cancel()
	drained := fmt.Sprintf("held %d events at the end, all acked %.1f s later", held, time.Since(drainStart).Seconds())
	if drainErr != nil {
		drained = fmt.Sprintf("held %d events at the end, NOT all acked within %s: %v", held, recoveryLimit, drainErr)
	}
	after, err := scrape(ctx, p.SenderAdmin)
	if err != nil {
		return row{}, err
	}
	hb, err := histogramOf(before, "sender_origin_to_stored_seconds")
	if err != nil {
		return row{}, err
	}
	ha, _ := histogramOf(after, "sender_origin_to_stored_seconds")
	lat := ha.minus(hb)
	say("  hub acknowledged %.0f readings/s; %s", acked/elapsed, drained)
	return row{
		name:    fmt.Sprintf("plain load, %d devices x 0.3 Hz, %s", n, seqName(noSeq)),
		offered: float64(2*n) / overloadInterval.Seconds(), stored: acked / elapsed,
		p50: lat.quantile(0.5), p99: lat.quantile(0.99),
		note: overloadNote(ctx, p, f, drained),
	}, nil
}

// restartBurst runs n devices at 0.3 Hz, stops the hub for outage while they keep
// making readings, starts it again and measures how long until the devices hold no
// backlog, with the load going on.
func restartBurst(ctx context.Context, c config, n int, noSeq bool, outage time.Duration, say func(string, ...any)) (row, error) {
	p, f, cleanup, err := overloadFleet(ctx, c, n, noSeq)
	if err != nil {
		return row{}, err
	}
	defer cleanup()
	stop := runFleet(ctx, f, overloadInterval+2*time.Second)
	defer stop()
	if err := p.Hub.Stop(); err != nil {
		return row{}, fmt.Errorf("stop the hub: %w", err)
	}
	select {
	case <-ctx.Done():
		return row{}, ctx.Err()
	case <-time.After(outage):
	}
	held := backlog(f)
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	restarted := time.Now()
	if err := p.Hub.Start(startCtx); err != nil {
		return row{}, fmt.Errorf("restart the hub: %w", err)
	}
	ackedBefore := f.Stats().AckedReadings
	recovered := caughtUp(ctx, f, n, recoveryLimit)
	elapsed := time.Since(restarted).Seconds()
	acked := float64(f.Stats().AckedReadings - ackedBefore)
	stop()
	caught := fmt.Sprintf("backlog of %d readings after a %s outage caught up %.1f s after the restart", held, outage, recovered)
	if math.IsNaN(recovered) {
		caught = fmt.Sprintf("backlog of %d readings after a %s outage NOT caught up within %s (%d left)", held, outage, recoveryLimit, backlog(f))
	}
	say("  %s", caught)
	nan := math.NaN()
	return row{
		name: fmt.Sprintf("restart with backlogs, %d devices x 0.3 Hz, %s", n, seqName(noSeq)),
		// The steady load; the backlog comes on top of it at once.
		offered: float64(2*n) / overloadInterval.Seconds(), stored: acked / elapsed, p50: nan, p99: nan,
		note: overloadNote(ctx, p, f, caught),
	}, nil
}

func seqName(noSeq bool) string {
	if noSeq {
		return "no seq tags"
	}
	return "seq tags"
}

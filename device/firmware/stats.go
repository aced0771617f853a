package firmware

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// statusEvery is how often the firmware logs its counters.
const statusEvery = 10 * time.Minute

// counters count what the firmware did since it started; safe for concurrent use.
type counters struct {
	samples, sensorFailures, queued, delivered, rejectedByHub, dropped atomic.Int64
	sendFailures, queueErrors, setpointChanges, setpointFailures       atomic.Int64

	mu       sync.Mutex
	rejected map[string]int64
}

func (c *counters) add(n *atomic.Int64, d int64) { n.Add(d) }

func (c *counters) reject(reason string) {
	c.mu.Lock()
	if c.rejected == nil {
		c.rejected = map[string]int64{}
	}
	c.rejected[reason]++
	c.mu.Unlock()
}

// Stats are the firmware's counters since start, and the queue's state.
type Stats struct {
	Samples         int64            // intervals sampled
	SensorFailures  int64            // intervals without a valid climate read
	Rejected        map[string]int64 // sensor reads rejected, by reason (sensor.Reason*)
	Queued          int64            // readings committed to the queue
	Delivered       int64            // readings the hub acknowledged
	RejectedByHub   int64            // readings the hub refused for good (dropped)
	Dropped         int64            // readings dropped because the queue was full
	SendFailures    int64            // delivery attempts that failed (and will be retried)
	QueueErrors     int64            // readings that could not be queued (disk errors)
	SetpointChanges int64
	SetpointErrors  int64
	Backlog         int    // readings waiting in the queue
	LastSeq         uint64 // last sequence number given out
}

// Stats returns the counters; safe to call at any time.
func (f *Firmware) Stats() Stats {
	c := &f.stats
	c.mu.Lock()
	rej := maps.Clone(c.rejected)
	c.mu.Unlock()
	s := Stats{
		Samples: c.samples.Load(), SensorFailures: c.sensorFailures.Load(), Rejected: rej,
		Queued: c.queued.Load(), Delivered: c.delivered.Load(), RejectedByHub: c.rejectedByHub.Load(),
		Dropped: c.dropped.Load(), SendFailures: c.sendFailures.Load(), QueueErrors: c.queueErrors.Load(),
		SetpointChanges: c.setpointChanges.Load(), SetpointErrors: c.setpointFailures.Load(),
	}
	if qs, err := f.q.Stats(); err == nil {
		s.Backlog, s.LastSeq = qs.Readings, qs.LastSeq
	}
	return s
}

func (f *Firmware) statusLoop(ctx context.Context) error {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.logStatus("status")
		}
	}
}

func (f *Firmware) logStatus(msg string) {
	s := f.Stats()
	args := []any{
		"samples", s.Samples, "sensor_failures", s.SensorFailures, "rejected_reads", s.Rejected,
		"queued", s.Queued, "delivered", s.Delivered, "backlog", s.Backlog, "last_seq", s.LastSeq,
		"dropped_queue_full", s.Dropped, "rejected_by_hub", s.RejectedByHub, "send_failures", s.SendFailures,
		"setpoint", f.Setpoint(), "setpoint_changes", s.SetpointChanges,
	}
	if f.room != nil {
		st := f.room.State()
		args = append(args, "sim_temperature", round1(st.Temperature), "sim_humidity", round1(st.Humidity), "sim_cooling_w", int(st.Cooling))
	}
	f.log.Info(msg, args...)
}

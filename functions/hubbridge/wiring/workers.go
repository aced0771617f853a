package wiring

import (
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// workerPool runs the ingest's requests (nbio's ServerExecutor) on goroutines that
// stay for the next request instead of ending after each.
//
// Why: nbio's own pool starts a goroutine per request when none is queued, and each
// new goroutine grows its stack again through EdgeX's decoding and validation (12 %
// of the hub's CPU in a profile of 200 devices back to back). A worker here waits
// idleFor for its next request, so under load the same few hundred goroutines, with
// their grown stacks, take request after request; when the load goes, they end and
// the memory goes with them.
type workerPool struct {
	max     int64
	idleFor time.Duration
	log     *slog.Logger
	// handoff reaches a worker that waits for work; queue holds requests while all
	// max workers are busy (nbio's pool queues the same way).
	handoff chan func()
	queue   chan func()
	stop    chan struct{}
	stopped sync.Once
	workers atomic.Int64
	waiting atomic.Int64
}

// workerQueue bounds the requests waiting for a worker while all are busy, as nbio's
// own pool does; past it the poller waits, so reading from the connections slows.
const workerQueue = 64 << 10

// newWorkerPool returns a pool of at most max workers, each ending after idleFor
// without a request.
func newWorkerPool(max int, idleFor time.Duration, log *slog.Logger) *workerPool {
	return &workerPool{max: int64(max), idleFor: idleFor, log: log,
		handoff: make(chan func()), queue: make(chan func(), workerQueue), stop: make(chan struct{})}
}

// Go runs f on a waiting worker, on a new one while there are fewer than max, or
// else on the first worker to finish.
func (p *workerPool) Go(f func()) {
	select {
	case p.handoff <- f:
		return
	default:
	}
	if p.workers.Add(1) <= p.max {
		go p.work(f)
		return
	}
	p.workers.Add(-1)
	select {
	case p.queue <- f:
	case <-p.stop:
	}
}

// Stop ends the waiting workers; busy ones end after their request. Requests given
// to Go after Stop may not run: the server answers nothing more by then.
func (p *workerPool) Stop() { p.stopped.Do(func() { close(p.stop) }) }

// Workers is the number of worker goroutines, busy or waiting; Waiting those waiting.
func (p *workerPool) Workers() int { return int(p.workers.Load()) }
func (p *workerPool) Waiting() int { return int(p.waiting.Load()) }

func (p *workerPool) work(f func()) {
	idle := time.NewTimer(p.idleFor)
	defer idle.Stop()
	for {
		p.run(f)
		idle.Reset(p.idleFor)
		p.waiting.Add(1)
		select {
		case f = <-p.handoff:
		case f = <-p.queue:
		case <-idle.C:
			// Leave the count first, then look at the queue once more: Go queues only
			// while the count is at max, so a request queued just now is not left
			// without a worker.
			p.waiting.Add(-1)
			p.workers.Add(-1)
			select {
			case f = <-p.queue:
				p.workers.Add(1)
				continue
			default:
				return
			}
		case <-p.stop:
			p.waiting.Add(-1)
			p.workers.Add(-1)
			return
		}
		p.waiting.Add(-1)
	}
}

// run calls f; a panic in a request ends that request, not the hub (net/http's
// server does the same).
func (p *workerPool) run(f func()) {
	defer func() {
		if err := recover(); err != nil {
			p.log.Error("request handler panicked", "panic", err, "stack", string(debug.Stack()))
		}
	}()
	f()
}

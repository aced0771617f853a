package edgexrest

import (
	"runtime"
	"sync"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
)

// decoders run decodeEvent on a few goroutines, one per CPU, that do nothing else.
//
// Why: EdgeX's validator recurses deeply and grows a goroutine's stack. A request's
// goroutine then waits for its group commit, and the garbage collector shrinks the
// stacks of goroutines that wait, so each of the hundreds of request goroutines grew
// its stack again after every collection: copying and shrinking stacks took 18 % of
// the hub's CPU at 10,000 devices x 1 Hz. A decoder waits only for the next body, so
// the deep stacks are as few as the CPUs and rarely shrink.
type decoders struct {
	jobs    chan *decodeJob
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
	free    sync.Pool // of *decodeJob
}

// decodeJob is one body to decode and, once done is signalled, what decodeEvent said.
type decodeJob struct {
	body        []byte
	contentType string
	req         requests.AddEventRequest
	reason      intake.Reason
	msg         string
	done        chan struct{}
}

func (j *decodeJob) run() { j.req, j.reason, j.msg = decodeEvent(j.body, j.contentType) }

// newDecoders starts n decoders (GOMAXPROCS if n <= 0). Close stops them.
func newDecoders(n int) *decoders {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	d := &decoders{jobs: make(chan *decodeJob), stop: make(chan struct{})}
	d.free.New = func() any { return &decodeJob{done: make(chan struct{}, 1)} }
	d.wg.Add(n)
	for range n {
		go d.work()
	}
	return d
}

func (d *decoders) work() {
	defer d.wg.Done()
	for {
		select {
		case j := <-d.jobs:
			j.run()
			j.done <- struct{}{}
		case <-d.stop:
			return
		}
	}
}

// decode is decodeEvent on a decoder; after Close, on the caller's goroutine. The
// body is not kept.
func (d *decoders) decode(body []byte, contentType string) (requests.AddEventRequest, intake.Reason, string) {
	j := d.free.Get().(*decodeJob)
	j.body, j.contentType = body, contentType
	select {
	case d.jobs <- j:
		<-j.done
	case <-d.stop:
		j.run()
	}
	req, reason, msg := j.req, j.reason, j.msg
	*j = decodeJob{done: j.done}
	d.free.Put(j)
	return req, reason, msg
}

// Close stops the decoders and waits for them; decode still works after.
func (d *decoders) Close() {
	d.stopped.Do(func() { close(d.stop) })
	d.wg.Wait()
}

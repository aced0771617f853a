package edgexrest

import (
	"reflect"
	"runtime"
	"sync"
	"testing"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
)

// The decoders answer as decodeEvent does, for every kind of body, from many
// goroutines at once, and still after Close.
func TestDecodersAnswerAsDecodeEvent(t *testing.T) {
	type answer struct {
		req    requests.AddEventRequest
		reason intake.Reason
		msg    string
	}
	bodies := eventBodies()
	want := map[string]answer{}
	for name, body := range bodies {
		req, reason, msg := decodeEvent(body, common.ContentTypeJSON)
		want[name] = answer{req, reason, msg}
	}
	check := func(t *testing.T, d *decoders, name string) {
		req, reason, msg := d.decode(bodies[name], common.ContentTypeJSON)
		if got := (answer{req, reason, msg}); !reflect.DeepEqual(got, want[name]) {
			t.Errorf("%s: decoders gave %+v\ndecodeEvent gave %+v", name, got, want[name])
		}
	}
	d := newDecoders(2)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				for name := range bodies {
					check(t, d, name)
				}
			}
		})
	}
	wg.Wait()
	d.Close()
	d.Close() // twice is fine
	for name := range bodies {
		check(t, d, name)
	}
}

// BenchmarkDecodeParked decodes a two-reading event on each of 512 goroutines that
// wait between their decodes, as request goroutines wait for their group commit, and
// so have their stacks shrunk by the garbage collector: on the goroutine itself, as
// before, and on the decoders.
func BenchmarkDecodeParked(b *testing.B) {
	body := mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 1, 21.5, 22)))
	inline := func(body []byte, ct string) { decodeEvent(body, ct) }
	d := newDecoders(0)
	b.Cleanup(d.Close)
	onDecoders := func(body []byte, ct string) { d.decode(body, ct) }
	for _, bc := range []struct {
		name   string
		decode func([]byte, string)
	}{{"on the request goroutine", inline}, {"on the decoders", onDecoders}} {
		b.Run(bc.name, func(b *testing.B) {
			const goroutines = 512
			turns := make([]chan bool, goroutines)
			var done sync.WaitGroup
			for i := range turns {
				turns[i] = make(chan bool)
				go func() {
					for range turns[i] {
						bc.decode(body, common.ContentTypeJSON)
						done.Done()
					}
				}()
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// A round of 2 per CPU at a time, each from the next goroutine in turn,
				// so that every goroutine waits between its decodes.
				n := 2 * runtime.GOMAXPROCS(0)
				done.Add(n)
				for range n {
					turns[i%goroutines] <- true
					i++
				}
				done.Wait()
			}
			b.StopTimer()
			for _, c := range turns {
				close(c)
			}
		})
	}
}

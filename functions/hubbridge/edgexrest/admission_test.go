package edgexrest

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// answer is one HTTP answer to an event.
type answer struct {
	status     int
	retryAfter string
	body       string
}

// event is the body of an event of device; sent again, it is the same event (the
// same reading ids), as a device's retry is.
func event(device string, seq uint64, value float64) []byte {
	return mustJSON(requests.NewAddEventRequest(eventOf(device, seq, value)))
}

func (a *testAPI) postEvent(t *testing.T, device string, body []byte) answer {
	t.Helper()
	resp, err := http.Post(a.URL+eventPath(device), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
}

// wantShed checks a load-shedding answer: 503 with a Retry-After of 1 or 2 seconds
// (the configured second, up to twice it).
func wantShed(t *testing.T, what string, got answer) {
	t.Helper()
	s, err := strconv.Atoi(got.retryAfter)
	if got.status != http.StatusServiceUnavailable || err != nil || s < 1 || s > 2 {
		t.Errorf("%s: HTTP %d, Retry-After %q (%s), want 503 with Retry-After 1 or 2", what, got.status, got.retryAfter, got.body)
	}
}

// With the database stalled (FerretDB stopped with SIGSTOP), the event holding the
// only slot is answered 503 with Retry-After once its store time is up, and an event
// arriving meanwhile is refused at once the same way without touching the database;
// once the database answers again, both retries are stored, each reading once.
func TestOverloadIsShedWithRetryAfter(t *testing.T) {
	a := newAPIWith(t, nil, Options{MaxInFlight: 1, AdmitWait: 50 * time.Millisecond, StoreTimeout: 2 * time.Second, RetryAfter: time.Second})
	a.register(t, "pi-1", "pi-2")
	for _, d := range []string{"pi-1", "pi-2"} {
		if got := a.postEvent(t, d, event(d, 1, 21)); got.status != http.StatusCreated {
			t.Fatalf("first event of %s: HTTP %d %s", d, got.status, got.body)
		}
	}
	if err := a.mongo.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := a.mongo.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(resume)

	second := map[string][]byte{"pi-1": event("pi-1", 2, 22), "pi-2": event("pi-2", 2, 22)}
	held := make(chan answer, 1)
	go func() { held <- a.postEvent(t, "pi-1", second["pi-1"]) }()
	servertest.WaitFor(t, "an event in flight", func() bool {
		return servertest.Metric(t, a.reg, "hub_events_in_flight") == 1
	})
	start := time.Now()
	wantShed(t, "event with no slot free", a.postEvent(t, "pi-2", second["pi-2"]))
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("the refused event waited %s, not about AdmitWait", waited)
	}
	wantShed(t, "event whose store outlived StoreTimeout", <-held)
	if got := servertest.Metric(t, a.reg, "hub_http_errors_total", "status", "503", "reason", answerOverloaded); got != 2 {
		t.Errorf("hub_http_errors_total{503,overloaded} = %v, want 2", got)
	}

	resume()
	for _, d := range []string{"pi-1", "pi-2"} {
		servertest.WaitFor(t, d+"'s retry stored", func() bool {
			return a.postEvent(t, d, second[d]).status == http.StatusCreated
		})
	}
	if got := servertest.Metric(t, a.reg, "hub_events_in_flight"); got != 0 {
		t.Errorf("hub_events_in_flight = %v after the answers, want 0", got)
	}
	rs := a.pending(t)
	for _, d := range []string{"pi-1", "pi-2"} {
		if n := countDevice(rs, d); n != 2 {
			t.Errorf("%s: %d readings pending, want 2 (the first event and the retried one, once)", d, n)
		}
	}
}

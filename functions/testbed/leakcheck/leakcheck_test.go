package leakcheck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
)

const here = "github.com/smartx-team/overcloud/functions/testbed/leakcheck_test."

func block(stop chan struct{}, done chan struct{}) {
	defer close(done)
	<-stop
}

// A goroutine of the given packages that is still running is reported with its
// stack; once it has stopped, nothing is; other packages' goroutines never are.
func TestLeaked(t *testing.T) {
	stop, done := make(chan struct{}), make(chan struct{})
	go block(stop, done)
	time.Sleep(10 * time.Millisecond)
	if got := leakcheck.Leaked(here); !strings.Contains(got, "leakcheck_test.block") {
		t.Fatalf("a running goroutine was not reported: %q", got)
	}
	if got := leakcheck.Leaked("github.com/smartx-team/overcloud/functions/hubbridge/"); got != "" {
		t.Errorf("another package's prefix reported %q", got)
	}
	close(stop)
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for leakcheck.Leaked(here) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("a stopped goroutine is still reported: %s", leakcheck.Leaked(here))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package servertest_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// recorder is a testing.TB that records Fatal and Skip instead of ending the test.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msg     string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) {
	r.mu.Lock()
	r.failed, r.msg = true, fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }
func (r *recorder) SkipNow()                         { r.Skip() }
func (r *recorder) FailNow()                         { r.Fatal("FailNow") }

// TestMissingToolFails checks that a helper fails (never skips) the test, naming the
// tool and how to install it, when the tool is nowhere to be found.
func TestMissingToolFails(t *testing.T) {
	t.Setenv(servers.ToolsBinEnv, t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	tests := []struct {
		tool  string
		start func(testing.TB)
	}{
		{"ferretdb", func(tb testing.TB) { servertest.Mongo(tb) }},
		{"influxd", func(tb testing.TB) { servertest.Influx(tb) }},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				tt.start(r)
			}()
			<-done
			if r.skipped || !r.failed {
				t.Fatalf("skipped=%v failed=%v; want the test failed", r.skipped, r.failed)
			}
			if !strings.Contains(r.msg, tt.tool) || !strings.Contains(r.msg, "make tools") {
				t.Errorf("message %q: want the tool's name and the install hint", r.msg)
			}
		})
	}
}

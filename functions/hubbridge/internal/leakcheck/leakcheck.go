// Package leakcheck fails a test binary whose tests leave goroutines of the hub bridge
// running: every goroutine must have an owner that stops it.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ours marks a goroutine as the hub bridge's: its stack runs or was started by it.
const ours = "github.com/smartx-team/overcloud/functions/hubbridge/"

// Main runs the tests, then checks (for up to 10 s, as stopping takes a moment) that
// no goroutine of the hub bridge is left. Use it as TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := wait(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines left after the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func wait(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		leaked := Leaked()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Leaked returns the stacks of the hub bridge's goroutines other than the caller's
// and the test framework's, "" if there are none.
func Leaked() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || !strings.Contains(g, ours) || strings.Contains(g, ours+"internal/leakcheck") {
			continue // the first is the caller's
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n")
}

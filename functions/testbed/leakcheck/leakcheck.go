// Package leakcheck fails a test binary whose tests leave goroutines of the code under
// test running: every goroutine must have an owner that stops it.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// self marks this package's own frames, which are never a leak.
const self = "github.com/smartx-team/overcloud/functions/testbed/leakcheck."

// Main runs the tests, then checks (for up to 10 s, as stopping takes a moment) that
// no goroutine whose stack names one of the package prefixes (for example
// "github.com/smartx-team/overcloud/functions/hubbridge/") is left. Use it as TestMain.
func Main(m *testing.M, prefixes ...string) {
	code := m.Run()
	if code == 0 {
		if leaked := wait(10*time.Second, prefixes); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines left after the tests:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func wait(d time.Duration, prefixes []string) string {
	deadline := time.Now().Add(d)
	for {
		leaked := Leaked(prefixes...)
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Leaked returns the stacks of the goroutines, other than the caller's, that run or
// were started by code under one of the prefixes; "" if there are none.
func Leaked(prefixes ...string) string {
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
		if i == 0 || strings.Contains(g, self) { // the first is the caller's
			continue
		}
		for _, p := range prefixes {
			if strings.Contains(g, p) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

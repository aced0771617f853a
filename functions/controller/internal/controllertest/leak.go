package controllertest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// controllerPkg marks a goroutine as the controller's: its stack runs in, or was
// started by, one of the controller's packages.
const controllerPkg = "github.com/smartx-team/overcloud/functions/controller/"

// Main runs the tests as TestMain, then fails the binary if a goroutine of the
// controller's is still running 10 s after they ended: every goroutine must have an
// owner that stops it.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			left := Leaked()
			if left == "" {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goroutines left after the tests:\n\n%s\n", left)
				code = 1
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of the controller's goroutines other than the caller's,
// "" if there are none.
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
		if i == 0 || !strings.Contains(g, controllerPkg) || strings.Contains(g, controllerPkg+"internal/controllertest.Leaked") {
			continue
		}
		out = append(out, g)
	}
	return strings.Join(out, "\n\n")
}

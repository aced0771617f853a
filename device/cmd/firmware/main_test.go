package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--help"}, 0, "SMARTX_TOKEN"},
		{[]string{"--version"}, 0, "smartx-firmware dev " + runtime.GOOS + "-"},
		{[]string{"--interval", "1ms"}, 2, "interval"},
		{[]string{"--no-such-flag"}, 2, "no-such-flag"},
		// A queue path that cannot be created fails at start.
		{[]string{"--simulate", "--queue-path", "/proc/nope/q.db", "--command-listen", ""}, 1, "start failed"},
	} {
		var out bytes.Buffer
		if code := run(tc.args, &out); code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("run(%q) = %d, output %q; want %d and %q", tc.args, code, out.String(), tc.code, tc.out)
		}
	}
}

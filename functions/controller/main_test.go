package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The exit codes: 0 for --help (which lists the settings), 2 for a bad setting (named
// on stderr), 1 when a part fails at start (a port taken), 0 after a clean stop.
func TestExitCodes(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	base := []string{"--devices", "pi-1", "--mongo-uri", "mongodb://127.0.0.1:1/", "--influx-url", "http://127.0.0.1:1",
		"--inference-url", "http://127.0.0.1:1", "--command-url", "http://127.0.0.1:1", "--interval", "1s", "--request-timeout", "500ms"}
	for _, tt := range []struct {
		name   string
		args   []string
		env    map[string]string
		cancel time.Duration // 0: ctx cancelled from the start
		code   int
		stderr string
	}{
		{name: "help", args: []string{"--help"}, code: 0, stderr: "CONTROLLER_DEVICES"},
		{name: "no devices", code: 2, stderr: "CONTROLLER_DEVICES"},
		{name: "bad flag", args: []string{"--nope"}, code: 2, stderr: "nope"},
		{name: "bad environment", env: map[string]string{"CONTROLLER_INTERVAL": "soon"}, code: 2, stderr: "CONTROLLER_INTERVAL"},
		{name: "bad limit", args: append(base, "--max-step", "0"), code: 2, stderr: "CONTROLLER_MAX_STEP"},
		{name: "missing secret file", args: append(base, "--api-token-file", filepath.Join(t.TempDir(), "none")), code: 2, stderr: "CONTROLLER_API_TOKEN_FILE"},
		{name: "port taken", args: append(base, "--admin-listen", taken.Addr().String(), "--listen", free()), code: 1, stderr: "admin listen"},
		{name: "clean stop", args: append(base, "--admin-listen", free(), "--listen", free()), cancel: 300 * time.Millisecond, code: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.cancel)
			defer cancel()
			var stderr strings.Builder
			if code := run(ctx, tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("run = %d, stderr %q; want %d with %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

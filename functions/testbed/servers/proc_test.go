package servers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTailWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		max    int
		want   string
	}{
		{"empty", nil, 3, ""},
		{"one line", []string{"a\n"}, 3, "a\n"},
		{"split writes", []string{"a", "b\nc", "\n"}, 3, "ab\nc\n"},
		{"keeps last", []string{"1\n2\n3\n4\n5\n"}, 3, "3\n4\n5\n"},
		{"unfinished line", []string{"1\n2\n3\n4"}, 2, "2\n3\n4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &tailWriter{max: tt.max}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if got := w.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestToolLookup(t *testing.T) {
	bin := t.TempDir()
	tool := filepath.Join(bin, "smartx-test-tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link to itself, as a broken install leaves it, must be skipped, not returned.
	if err := os.Symlink("smartx-broken-tool", filepath.Join(bin, "smartx-broken-tool")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ToolsBinEnv, bin)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())

	got, err := Tool("smartx-test-tool")
	if err != nil || got != tool {
		t.Errorf("Tool(smartx-test-tool) = %q, %v; want %q", got, err, tool)
	}
	for _, name := range []string{"smartx-broken-tool", "smartx-no-such-tool"} {
		_, err := Tool(name)
		if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), `run "make tools"`) || !strings.Contains(err.Error(), name) {
			t.Errorf("Tool(%s) error = %v; want ErrNotInstalled naming it with the install hint", name, err)
		}
	}
}

func TestProcExitsBeforeReady(t *testing.T) {
	t.Parallel()
	notListening := errors.New("not listening")
	p := NewProc("early", []string{"/bin/sh", "-c", "echo config is bad >&2; exit 3"}, nil,
		func(context.Context) error { return notListening }, nil)
	err := p.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exited before ready") || !strings.Contains(err.Error(), "config is bad") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Start = %v; want an early-exit error with the log tail and exit status", err)
	}
	if !errors.Is(err, notListening) {
		t.Errorf("Start = %v; want it to wrap the last readiness check's error", err)
	}
	if p.Running() {
		t.Error("Running after the process exited")
	}
}

func TestProcNotReadyIsKilled(t *testing.T) {
	t.Parallel()
	notYet := errors.New("not yet")
	p := NewProc("slow", []string{"/bin/sh", "-c", "echo waiting; exec sleep 600"}, nil,
		func(context.Context) error { return notYet }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := p.Start(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, notYet) {
		t.Fatalf("Start = %v; want a deadline error wrapping the last check's", err)
	}
	assertGone(t, p.PID())
}

func TestProcStopRestartKill(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ready")
	// The shell only says it is ready after it set its SIGTERM trap, and exits 0 on it.
	script := `trap 'echo bye; exit 0' TERM; echo hello; touch "$1"; while :; do sleep 0.05; done`
	ready := func(context.Context) error {
		_, err := os.Stat(marker)
		return err
	}
	p := NewProc("sh", []string{"/bin/sh", "-c", script, "sh", marker}, nil, ready, nil)
	if p.PID() != 0 || p.Running() {
		t.Fatal("a new Proc must not run")
	}
	for i := range 2 {
		_ = os.Remove(marker)
		if err := p.Start(context.Background()); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if err := p.Start(context.Background()); err == nil {
			t.Fatal("second Start of a running Proc succeeded")
		}
		pid := p.PID()
		if err := p.Stop(); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
		assertGone(t, pid)
		if !strings.Contains(p.Tail(), "bye") {
			t.Errorf("SIGTERM did not reach the shell; log:\n%s", p.Tail())
		}
	}
	_ = os.Remove(marker)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, p.PID())
	if err := p.Stop(); err != nil {
		t.Errorf("Stop of a stopped Proc = %v", err)
	}
}

// assertGone fails unless no process has the id pid.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("pid %d", pid)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists (kill 0: %v)", pid, err)
	}
}

package actuator

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBounds(t *testing.T) {
	b := Bounds{Min: 16, Max: 30}
	for _, c := range []float64{16, 23.5, 30} {
		if err := b.Check(c); err != nil {
			t.Errorf("Check(%v) = %v", c, err)
		}
	}
	for _, c := range []float64{15.9, 30.1, math.NaN(), math.Inf(1)} {
		if err := b.Check(c); !errors.Is(err, ErrOutOfBounds) {
			t.Errorf("Check(%v) = %v, want ErrOutOfBounds", c, err)
		}
	}
}

// lircd replays lircd's side of the socket protocol: for each command line it reads,
// it writes the scripted answer (with %s replaced by the command), and records the
// command. Unscripted commands fail the test.
type lircd struct {
	t       *testing.T
	path    string
	answers []string
	mu      sync.Mutex
	got     []string
}

func startLircd(t *testing.T, answers ...string) *lircd {
	t.Helper()
	l := &lircd{t: t, path: filepath.Join(t.TempDir(), "lircd"), answers: answers}
	ln, err := net.Listen("unix", l.path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmd, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				cmd = strings.TrimSuffix(cmd, "\n")
				l.mu.Lock()
				l.got = append(l.got, cmd)
				var ans string
				if len(l.answers) > 0 {
					ans, l.answers = l.answers[0], l.answers[1:]
				} else {
					t.Errorf("unexpected command %q", cmd)
				}
				l.mu.Unlock()
				_, _ = io.WriteString(c, strings.ReplaceAll(ans, "%s", cmd))
			}
			c.Close()
		}
	}()
	return l
}

func (l *lircd) commands() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func TestLIRCSendsTheCode(t *testing.T) {
	d := startLircd(t,
		"BEGIN\n%s\nSUCCESS\nEND\n",
		// lircd also broadcasts key presses and SIGHUP notices to every client.
		"0000000000f40bf0 00 KEY_POWER other-remote\nBEGIN\nSIGHUP\nEND\nBEGIN\n%s\nSUCCESS\nEND\n",
		"BEGIN\n%s\nERROR\nDATA\n1\nunknown command: \"COOL_17\"\nEND\n",
	)
	l, err := NewLIRC(LIRCOptions{Socket: d.path, Remote: "aircon", Code: "COOL_{temp}"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.SetPoint(ctx, 24); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPoint(ctx, 22.6); err != nil {
		t.Fatal(err)
	}
	err = l.SetPoint(ctx, 17)
	if !errors.Is(err, ErrLIRC) || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("refused code: err = %v, want ErrLIRC with lircd's message", err)
	}
	want := []string{"SEND_ONCE aircon COOL_24", "SEND_ONCE aircon COOL_23", "SEND_ONCE aircon COOL_17"}
	if got := d.commands(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lircd got %q, want %q", got, want)
	}
}

func TestLIRCErrors(t *testing.T) {
	l, err := NewLIRC(LIRCOptions{Socket: filepath.Join(t.TempDir(), "none"), Remote: "aircon", Code: "C{temp}"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetPoint(context.Background(), 20); err == nil {
		t.Error("no lircd: no error")
	}
	// lircd that hangs up without an answer.
	d := startLircd(t, "")
	l, _ = NewLIRC(LIRCOptions{Socket: d.path, Remote: "aircon", Code: "C{temp}", Timeout: 200 * time.Millisecond})
	if err := l.SetPoint(context.Background(), 20); err == nil {
		t.Error("lircd hung up: no error")
	}
	for _, o := range []LIRCOptions{{Remote: "", Code: "C{temp}"}, {Remote: "a b", Code: "C{temp}"}, {Remote: "a", Code: "COOL"}} {
		if _, err := NewLIRC(o); err == nil {
			t.Errorf("NewLIRC(%+v) accepted", o)
		}
	}
}

func TestReadReply(t *testing.T) {
	const cmd = "SEND_ONCE a C_20"
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"success", "BEGIN\n" + cmd + "\nSUCCESS\nEND\n", true},
		{"crlf", "BEGIN\r\n" + cmd + "\r\nSUCCESS\r\nEND\r\n", true},
		{"error", "BEGIN\n" + cmd + "\nERROR\nDATA\n1\nbad\nEND\n", false},
		{"other command", "BEGIN\nLIST\nSUCCESS\nEND\n", false},
		{"truncated", "BEGIN\n" + cmd + "\nSUCCESS\n", false},
		{"bad count", "BEGIN\n" + cmd + "\nSUCCESS\nDATA\n-1\nEND\n", false},
		{"no end", "BEGIN\n" + cmd + "\nSUCCESS\nMORE\n", false},
		{"unknown status", "BEGIN\n" + cmd + "\nMAYBE\nEND\n", false},
		{"empty", "", false},
	} {
		err := ReadReply(bufio.NewReader(strings.NewReader(tc.in)), cmd)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add([]byte("BEGIN\nSEND_ONCE a b\nSUCCESS\nEND\n"))
	f.Add([]byte("BEGIN\nSEND_ONCE a b\nERROR\nDATA\n2\nx\ny\nEND\n"))
	f.Add([]byte("BEGIN\nSIGHUP\nEND\nBEGIN\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ReadReply(bufio.NewReader(strings.NewReader(string(b))), "SEND_ONCE a b")
	})
}

func TestNone(t *testing.T) {
	if err := (None{}).SetPoint(context.Background(), 20); !errors.Is(err, ErrNoActuator) {
		t.Errorf("None.SetPoint = %v", err)
	}
}

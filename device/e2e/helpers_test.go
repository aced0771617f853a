// Package e2e tests the firmware as it runs on a Pi: built binaries as processes, a
// hub over HTTP on 127.0.0.1, make firmware, make flash over a real sshd, and the arm
// builds under qemu-user.
//
// The hub is hubtest's validating EdgeX hub (see hub below). To run the same tests
// against the real hub, implement hub with the data path started on 127.0.0.1 and
// its stored readings, and return it from newHub.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/device/internal/hubtest"
	"github.com/smartx-team/overcloud/device/queue"
)

// hub is what the tests need from a hub.
type hub interface {
	URL() string
	Start(addr string) error // "" restarts on the same address
	Stop()
	Readings(device string) []hubtest.Received
	Invalid() []string
	Counts() hubtest.Counts
}

// newHub starts a hub on a free port, stopped at the end of the test.
func newHub(t *testing.T, tokens map[string]string) hub {
	t.Helper()
	h := hubtest.New(tokens)
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Stop()
		for _, s := range h.Invalid() {
			t.Errorf("hub saw an invalid request: %s", s)
		}
	})
	return h
}

var (
	repoRoot string
	binDir   string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		wd, err := os.Getwd()
		if err != nil {
			panic(err)
		}
		repoRoot = filepath.Join(wd, "..", "..")
		if binDir, err = os.MkdirTemp("", "firmware-e2e-"); err != nil {
			panic(err)
		}
		defer os.RemoveAll(binDir)
		return m.Run()
	}())
}

var (
	hostBinOnce sync.Once
	hostBin     string
	hostBinErr  error
)

// firmwareBinary builds the firmware for this machine once per test run.
func firmwareBinary(t *testing.T) string {
	t.Helper()
	hostBinOnce.Do(func() {
		hostBin = filepath.Join(binDir, "smartx-firmware")
		cmd := exec.Command("go", "build", "-o", hostBin, "./device/cmd/firmware")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			hostBinErr = fmt.Errorf("build firmware: %v\n%s", err, out)
		}
	})
	if hostBinErr != nil {
		t.Fatal(hostBinErr)
	}
	return hostBin
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is one firmware process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// cleanEnv is the environment without SMARTX_ settings, so the developer's own do
// not leak into the firmware under test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SMARTX_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProc starts argv with its output in a log file; Cleanup kills it by PID if the
// test has not stopped it.
func startProc(t *testing.T, name string, argv []string, env []string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log (last 3000 bytes):\n%s", name, tail(b, 3000))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// stop sends SIGTERM and waits; the firmware must exit 0 within 20 s.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Errorf("pid %d exited with %v after SIGTERM", p.cmd.Process.Pid, p.err)
		}
	case <-time.After(20 * time.Second):
		p.t.Errorf("pid %d still running 20 s after SIGTERM", p.cmd.Process.Pid)
		p.kill()
	}
}

// kill is a power cut: SIGKILL, then wait.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// logHas reports whether the process log contains s.
func (p *proc) logHas(s string) bool {
	b, _ := os.ReadFile(p.log)
	return bytes.Contains(b, []byte(s))
}

// firmwareArgs are the settings every test run uses: simulated hardware, fast
// sampling and retries, the queue in dir.
func firmwareArgs(hubURL, device, queueFile string, extra ...string) []string {
	return append([]string{
		"--simulate", "--device", device, "--location", "sector-9", "--hub-url", hubURL,
		"--queue-path", queueFile, "--interval", "200ms", "--retry-min", "100ms", "--retry-max", "1s",
		"--http-timeout", "3s", "--command-listen", "", "--log-level", "debug",
	}, extra...)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := hubtest.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting %v for %s: %v", timeout, what, err)
	}
}

// checkExactlyOnce demands that the hub got the device's readings 1..K, each once, in
// order, and that the queue file (the firmware stopped) holds exactly K+1..LastSeq:
// nothing lost, nothing doubled, nothing out of order.
func checkExactlyOnce(t *testing.T, h hub, device, queueFile string) (delivered int, lastSeq uint64) {
	t.Helper()
	got := h.Readings(device)
	for i, r := range got {
		if r.Seq != uint64(i+1) {
			t.Fatalf("reading %d of %d arrived with seq %d, want %d (lost, doubled or out of order)", i+1, len(got), r.Seq, i+1)
		}
	}
	q, err := queue.Open(queueFile, queue.Options{Max: 1 << 30, Device: device})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := q.Stats()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := q.Peek(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	var rest []uint64
	for _, rec := range recs {
		for _, r := range rec.Readings {
			rest = append(rest, r.Seq)
		}
	}
	want := uint64(len(got))
	for _, s := range rest {
		want++
		if s != want {
			t.Fatalf("queue still holds seq %d where %d was due; queued %v", s, want, rest)
		}
	}
	if want != st.LastSeq {
		t.Fatalf("hub has 1..%d, queue %d more, but the firmware gave out seq up to %d", len(got), len(rest), st.LastSeq)
	}
	if st.Dropped != 0 || st.Corrupt != 0 {
		t.Fatalf("queue dropped %d and found %d corrupt", st.Dropped, st.Corrupt)
	}
	return len(got), st.LastSeq
}

// resources lists the distinct resources of readings, sorted.
func resources(rs []hubtest.Received) []string {
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.Resource) {
			out = append(out, r.Resource)
		}
	}
	slices.Sort(out)
	return out
}

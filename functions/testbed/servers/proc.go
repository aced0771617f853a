package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultReadyTimeout bounds Start when its context has no deadline.
	DefaultReadyTimeout = 60 * time.Second
	// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
	StopGrace = 15 * time.Second
	// tailLines is how many of the last log lines a Proc keeps for error messages.
	tailLines = 50
	// pollEvery is the pause between two readiness checks.
	pollEvery = 100 * time.Millisecond
	// checkTimeout bounds one readiness check, so a hung check cannot eat the deadline.
	checkTimeout = 5 * time.Second
)

// Proc is one server process that can be started, stopped and started again with the
// same argv, so with the same ports and data dir. Its output goes to the log writer
// given to NewProc and its last lines are kept for error messages ([Proc.Tail]).
// A Proc is safe for use by several goroutines; Start, Stop and Kill are serialised.
type Proc struct {
	name  string
	argv  []string
	env   []string
	ready func(context.Context) error
	tail  *tailWriter
	out   io.Writer

	// WorkDir, if set, is the process's working directory. Set it before Start.
	WorkDir string
	// Credential, if set, runs the process as that user (a server that refuses to
	// run as root, such as PostgreSQL). Set it before Start.
	Credential *syscall.Credential

	mu   sync.Mutex // serialises Start, Stop and Kill
	smu  sync.Mutex // guards the fields below, read by PID and Running
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed when the running process has been reaped
	werr error         // the Wait result, valid once done is closed
}

// NewProc returns a stopped process that runs argv (argv[0] is the binary) with env
// added to this process's environment. ready checks with the real protocol that the
// server answers; Start calls it until it returns nil. log receives the process's
// stdout and stderr (nil discards them). Nothing runs until Start.
func NewProc(name string, argv, env []string, ready func(context.Context) error, log io.Writer) *Proc {
	if log == nil {
		log = io.Discard
	}
	t := &tailWriter{max: tailLines}
	return &Proc{
		name:  name,
		argv:  append([]string(nil), argv...),
		env:   append([]string(nil), env...),
		ready: ready,
		tail:  t,
		out:   &lockedWriter{w: io.MultiWriter(t, log)},
	}
}

// Name is the name given to NewProc, used in errors.
func (p *Proc) Name() string { return p.name }

// Start starts the process and waits until ready reports nil. It fails, with the
// process's last log lines, if the process exits first or is not ready before ctx
// ends (DefaultReadyTimeout when ctx has no deadline); a process that is not ready
// in time is killed. Starting a running Proc is an error.
func (p *Proc) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Running() {
		return fmt.Errorf("start %s: already running (pid %d)", p.name, p.PID())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultReadyTimeout)
		defer cancel()
	}
	fmt.Fprintf(p.out, "--- servers: starting %s: %s\n", p.name, strings.Join(p.argv, " "))

	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	// Should a server leave a child holding its output pipe, Wait must still return.
	cmd.WaitDelay = time.Second
	// The server dies with the thread that started it, so a test binary that crashes
	// or is killed by `go test -timeout` leaks no server. Setpgid keeps a Ctrl-C in a
	// terminal from reaching the server before the test can stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: p.Credential}
	cmd.Dir = p.WorkDir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.smu.Lock()
	p.cmd, p.pid, p.done, p.werr = cmd, cmd.Process.Pid, done, nil
	p.smu.Unlock()
	// This goroutine is owned by the process: it ends when the process exits, which
	// Stop and Kill wait for.
	go func() {
		err := cmd.Wait()
		p.smu.Lock()
		p.werr = err
		p.smu.Unlock()
		close(done)
	}()

	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		last = p.ready(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("start %s: exited before ready (%v); last check: %w\n%s", p.name, p.waitErr(), last, p.Tail())
		case <-ctx.Done():
			_ = p.kill()
			return fmt.Errorf("start %s: not ready: %w; last check: %w\n%s", p.name, ctx.Err(), last, p.Tail())
		case <-time.After(pollEvery):
		}
	}
}

// Stop sends SIGTERM and waits for the process to exit; after StopGrace it sends
// SIGKILL, waits, and returns an error saying so (a killed server may have lost data).
// Stopping a stopped Proc does nothing. An exit status caused by the SIGTERM is not
// an error.
func (p *Proc) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Running() {
		return nil
	}
	fmt.Fprintf(p.out, "--- servers: stopping %s (pid %d)\n", p.name, p.PID())
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(StopGrace):
	}
	if err := p.kill(); err != nil {
		return err
	}
	return fmt.Errorf("stop %s: no exit %s after SIGTERM, killed\n%s", p.name, StopGrace, p.Tail())
}

// Kill sends SIGKILL and waits for the process to exit, as a crash or a power cut
// would end it. Killing a stopped Proc does nothing.
func (p *Proc) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Running() {
		return nil
	}
	fmt.Fprintf(p.out, "--- servers: killing %s (pid %d)\n", p.name, p.PID())
	return p.kill()
}

// kill sends SIGKILL to the running process and waits until it is reaped.
func (p *Proc) kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

// PID is the id of the running process, or of the last one once it has exited (so a
// test can check that it is gone); 0 before the first Start.
func (p *Proc) PID() int {
	p.smu.Lock()
	defer p.smu.Unlock()
	return p.pid
}

// Running reports whether the process has been started and not yet exited.
func (p *Proc) Running() bool {
	p.smu.Lock()
	done := p.done
	p.smu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Tail returns the last lines (up to 50) the process wrote, across restarts.
// Signal sends sig to the running process (SIGSTOP and SIGCONT freeze and thaw it, as
// a stalled server would stall); it is an error when it is not running.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.smu.Lock()
	defer p.smu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("signal %s: not started", p.name)
	}
	select {
	case <-p.done:
		return fmt.Errorf("signal %s: not running", p.name)
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

// ExitErr is how the last run ended: nil for exit status 0 (or while it runs), else
// the *exec.ExitError.
func (p *Proc) ExitErr() error {
	p.smu.Lock()
	defer p.smu.Unlock()
	return p.werr
}

func (p *Proc) Tail() string { return p.tail.String() }

func (p *Proc) waitErr() error {
	p.smu.Lock()
	defer p.smu.Unlock()
	if p.werr == nil {
		return errors.New("exit status 0")
	}
	return p.werr
}

// lockedWriter serialises writes from the process's stdout and stderr copiers and
// from Proc itself.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// tailWriter keeps the last max lines written to it.
type tailWriter struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.partial = append(t.partial, b...)
			// A server that never ends its line must not grow memory without bound.
			if len(t.partial) > 64<<10 {
				t.push(string(t.partial))
				t.partial = t.partial[:0]
			}
			break
		}
		t.partial = append(t.partial, b[:i]...)
		t.push(string(t.partial))
		t.partial = t.partial[:0]
		b = b[i+1:]
	}
	return n, nil
}

func (t *tailWriter) push(line string) {
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.max:]...)
	}
}

// String returns the kept lines, each ending in a newline, and any unfinished line.
func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sb strings.Builder
	for _, l := range t.lines {
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	sb.Write(t.partial)
	return sb.String()
}

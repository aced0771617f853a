package actuator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LIRCOptions configure LIRC; zero values take the defaults named per field.
type LIRCOptions struct {
	// Socket is lircd's Unix socket (default /var/run/lirc/lircd).
	Socket string
	// Remote is the remote's name in lircd.conf. Required.
	Remote string
	// Code is the code name to send; "{temp}" is replaced by the set-point in whole
	// degrees (e.g. "COOL_{temp}" sends COOL_24). Required.
	Code string
	// Timeout bounds one command, connect to END (default 5 s).
	Timeout time.Duration
}

// LIRC sends set-points as infra-red codes through lircd's socket, one SEND_ONCE per
// command, with no process started per command (the original forked for every
// write). Commands are serialised: an emitter sends one code at a time.
type LIRC struct {
	o  LIRCOptions
	mu sync.Mutex
}

var _ Actuator = (*LIRC)(nil)

// NewLIRC checks the options; it does not connect (lircd may start later).
func NewLIRC(o LIRCOptions) (*LIRC, error) {
	if o.Socket == "" {
		o.Socket = "/var/run/lirc/lircd"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Remote == "" || strings.ContainsAny(o.Remote, " \t\r\n") {
		return nil, fmt.Errorf("lirc: remote %q must be one word", o.Remote)
	}
	if !strings.Contains(o.Code, "{temp}") || strings.ContainsAny(o.Code, " \t\r\n") {
		return nil, fmt.Errorf("lirc: code %q must be one word containing {temp}", o.Code)
	}
	return &LIRC{o: o}, nil
}

// CodeFor is the code name sent for set-point c.
func (l *LIRC) CodeFor(c float64) string {
	return strings.ReplaceAll(l.o.Code, "{temp}", strconv.Itoa(int(Round(c))))
}

// SetPoint sends SEND_ONCE <remote> <code> and waits for lircd's SUCCESS.
func (l *LIRC) SetPoint(ctx context.Context, c float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", l.o.Socket)
	if err != nil {
		return fmt.Errorf("lirc: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cmd := "SEND_ONCE " + l.o.Remote + " " + l.CodeFor(c)
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return fmt.Errorf("lirc send: %w", err)
	}
	if err := ReadReply(bufio.NewReader(io.LimitReader(conn, 64<<10)), cmd); err != nil {
		return fmt.Errorf("lirc %s: %w", cmd, err)
	}
	return nil
}

// ErrLIRC is wrapped by errors lircd reported for a command.
var ErrLIRC = errors.New("lircd refused the command")

// ReadReply reads lircd's reply to cmd:
//
//	BEGIN / <cmd> / SUCCESS|ERROR / [DATA / <n> / n lines] / END
//
// skipping what lircd broadcasts to every client meanwhile: decoded key presses
// (lines outside BEGIN..END) and SIGHUP notices (BEGIN / SIGHUP / END).
func ReadReply(r *bufio.Reader, cmd string) error {
	line := func() (string, error) {
		s, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
	for {
		s, err := line()
		if err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		if s != "BEGIN" {
			continue // a broadcast key press
		}
		echo, err := line()
		if err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		if echo == "SIGHUP" {
			if end, err := line(); err != nil || end != "END" {
				return fmt.Errorf("read reply: SIGHUP notice not closed by END")
			}
			continue
		}
		if echo != cmd {
			return fmt.Errorf("read reply: lircd answered %q, not our command", truncate(echo, 80))
		}
		status, err := line()
		if err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		var data []string
		next, err := line()
		if err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		if next == "DATA" {
			ns, err := line()
			if err != nil {
				return fmt.Errorf("read reply: %w", err)
			}
			n, err := strconv.Atoi(ns)
			if err != nil || n < 0 || n > 1000 {
				return fmt.Errorf("read reply: bad DATA count %q", truncate(ns, 20))
			}
			for range n {
				d, err := line()
				if err != nil {
					return fmt.Errorf("read reply: %w", err)
				}
				data = append(data, d)
			}
			if next, err = line(); err != nil {
				return fmt.Errorf("read reply: %w", err)
			}
		}
		if next != "END" {
			return fmt.Errorf("read reply: want END, got %q", truncate(next, 80))
		}
		switch status {
		case "SUCCESS":
			return nil
		case "ERROR":
			return fmt.Errorf("%w: %s", ErrLIRC, truncate(strings.Join(data, "; "), 200))
		default:
			return fmt.Errorf("read reply: unknown status %q", truncate(status, 80))
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFlagsPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantN   int
		wantErr string
	}{
		{name: "default", want: "def", wantN: 3},
		{name: "env over default", env: map[string]string{"T_S": "env", "T_N": "7"}, want: "env", wantN: 7},
		{name: "flag over env", env: map[string]string{"T_S": "env"}, args: []string{"-s", "flag"}, want: "flag", wantN: 3},
		{name: "bad env int", env: map[string]string{"T_N": "seven"}, wantErr: `T_N="seven": not an integer`},
		{name: "stray argument", args: []string{"oops"}, wantErr: `unexpected argument "oops"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f := NewFlags("t", "test")
			f.SetOutput(io.Discard)
			s := f.String("s", "T_S", "def", "a string")
			n := f.Int("n", "T_N", 3, "a number")
			err := f.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || *s != tt.want || *n != tt.wantN {
				t.Fatalf("got %q %d %v, want %q %d", *s, *n, err, tt.want, tt.wantN)
			}
		})
	}
}

func TestFlagsHelpNamesEnv(t *testing.T) {
	f := NewFlags("prog", "does things")
	var out strings.Builder
	f.SetOutput(&out)
	f.Duration("wait", "PROG_WAIT", time.Second, "how long")
	f.Bool("fast", "PROG_FAST", false, "go fast")
	if err := f.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v", err)
	}
	for _, want := range []string{"does things", "[PROG_WAIT]", "[PROG_FAST]", "(default 1s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReadSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadSecret("inline", file); err != nil || got != "s3cret" {
		t.Fatalf("file should win: %q %v", got, err)
	}
	if got, _ := ReadSecret(" inline ", ""); got != "inline" {
		t.Fatalf("inline = %q", got)
	}
	if _, err := ReadSecret("", file+".missing"); err == nil {
		t.Fatal("missing file gave no error")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://user:pw@host:27017/db": "mongodb://user:xxxxx@host:27017/db",
		"mongodb://host:27017/":           "mongodb://host:27017/",
		"mongodb://user@host/":            "mongodb://user@host/",
		"not a url":                       "not a url",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "things_total", Help: "things"})
	reg.MustRegister(c)
	c.Add(3)
	var notReady error = errors.New("mongo down")
	a, err := NewAdmin("127.0.0.1:0", reg, func(context.Context) error { return notReady })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + a.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "mongo down") {
		t.Errorf("/readyz = %d %q, want 503 naming the cause", code, body)
	}
	notReady = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz after recovery = %d", code)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "things_total 3") || !strings.Contains(body, "go_goroutines") ||
		!strings.Contains(body, "\ngo_gc_heap_live_bytes ") {
		t.Errorf("/metrics lacks our counter or runtime metrics:\n%.300s", body)
	}
	if code, _ := get("/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/heap = %d without the switch, want 404", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

// With the switch on, the profiles are served (a CPU profile and the heap decode as
// pprof's gzip format) and the command line, which may hold a flag's secret, is not.
func TestAdminPprof(t *testing.T) {
	a, err := NewAdmin("127.0.0.1:0", NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.EnablePprof()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, tc := range []struct {
		path string
		code int
		gzip bool
	}{
		{"/debug/pprof/profile?seconds=1", 200, true},
		{"/debug/pprof/heap", 200, true},
		{"/debug/pprof/goroutine", 200, true},
		{"/debug/pprof/", 200, false},
		{"/debug/pprof/cmdline", 404, false},
	} {
		resp, err := http.Get("http://" + a.Addr() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || tc.gzip && !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: HTTP %d, %d bytes (gzip %v); want %d", tc.path, resp.StatusCode, len(b), bytes.HasPrefix(b, []byte{0x1f, 0x8b}), tc.code)
		}
	}
}

func TestRunStopsAllOnFirstError(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := Run(context.Background(),
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return ctx.Err() },
		func(context.Context) error { return boom },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other part was not stopped")
	}
}

func TestRunCancelIsNotAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }); err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
}

func TestNewLoggerRejectsUnknownLevel(t *testing.T) {
	if _, err := NewLogger(os.Stderr, "x", "loud"); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Fatalf("NewLogger(loud) = %v", err)
	}
}

// The helpers every function shares agree with Kafka's own rules, so the hub and the
// sender accept and refuse the same settings.
func TestCheckTopic(t *testing.T) {
	for _, tt := range []struct {
		topic string
		ok    bool
	}{
		{"readings", true},
		{"readings.dead", true},
		{"a_b-C.9", true},
		{strings.Repeat("t", 249), true},
		{strings.Repeat("t", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"readings#1", false},
		{"with space", false},
		{"a/b", false},
		{"a,b", false},
	} {
		if err := CheckTopic(tt.topic); (err == nil) != tt.ok {
			t.Errorf("CheckTopic(%q) = %v, want ok=%v", tt.topic, err, tt.ok)
		}
	}
}

func TestSplitListAndCheckBrokers(t *testing.T) {
	if got := SplitList(" a:1, ,b:2,,"); strings.Join(got, "|") != "a:1|b:2" {
		t.Errorf("SplitList = %q", got)
	}
	if got := SplitList(DefaultKafkaBrokers); CheckBrokers(got) != nil {
		t.Errorf("the default brokers %q do not pass CheckBrokers", got)
	}
	for _, tt := range []struct {
		list string
		want string // "" for ok, else part of the error
	}{
		{"127.0.0.1:9092,kafka-1.kafka:9092", ""},
		{"", "at least one"},
		{"kafka", `"kafka": want host:port`},
		{":9092", `":9092": want host:port with a host`},
		{"kafka:0", "port"},
		{"kafka:x", "port"},
		{"kafka:70000", "port"},
	} {
		err := CheckBrokers(SplitList(tt.list))
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckBrokers(%q) = %v, want %q", tt.list, err, tt.want)
		}
	}
}

func TestParseLogLevelAndNewLogger(t *testing.T) {
	for _, l := range []string{"debug", "info", "warn", "error"} {
		if _, err := ParseLogLevel(l); err != nil {
			t.Errorf("ParseLogLevel(%q) = %v", l, err)
		}
	}
	if _, err := ParseLogLevel("loud"); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Errorf("ParseLogLevel(loud) = %v, want an error naming it", err)
	}
	var out strings.Builder
	log, err := NewLogger(&out, "thing", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if s := out.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"component":"thing"`) || !strings.Contains(s, `"msg":"shown"`) {
		t.Errorf("logged %q: want only the warning, as JSON with the component", s)
	}
}

// A secret comes from its flag, its variable or its default, and its file wins; the
// variable's value is never shown in --help, and a missing file names the setting.
func TestSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(" from-file \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{name: "default", want: "def"},
		{name: "env", env: map[string]string{"T_PW": "env-s3cret"}, want: "env-s3cret"},
		{name: "flag over env", env: map[string]string{"T_PW": "env-s3cret"}, args: []string{"--pw", "flag"}, want: "flag"},
		{name: "file wins", env: map[string]string{"T_PW": "env-s3cret"}, args: []string{"--pw", "flag", "--pw-file", file}, want: "from-file"},
		{name: "file by env", env: map[string]string{"T_PW_FILE": file}, want: "from-file"},
		{name: "missing file", args: []string{"--pw-file", file + ".missing"}, wantErr: "T_PW_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f := NewFlags("t", "test")
			f.SetOutput(io.Discard)
			s := f.Secret("pw", "T_PW", "def", "a password")
			if err := f.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := s.Value()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Value() = %q, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Value() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Setenv("T_PW", "env-s3cret")
	f := NewFlags("t", "test")
	var help strings.Builder
	f.SetOutput(&help)
	f.Secret("pw", "T_PW", "mongodb://u:dbpass@h/", "a password")
	if err := f.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v", err)
	}
	if h := help.String(); strings.Contains(h, "env-s3cret") || strings.Contains(h, "dbpass") || !strings.Contains(h, "[T_PW_FILE]") {
		t.Errorf("--help shows a secret or lacks the file variant:\n%s", h)
	}
}

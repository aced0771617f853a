package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/inference/internal/inferencetest"
	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const pkg = "github.com/smartx-team/overcloud/functions/inference"

func TestMain(m *testing.M) { leakcheck.Main(m, inferencetest.Packages...) }

func build(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := servers.BuildGo(ctx, pkg)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := servers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func TestBinaryHelpAndExitCodes(t *testing.T) {
	t.Parallel()
	bin := build(t)
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	busy := freeAddr(t)
	ln, err := net.Listen("tcp", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"help", []string{"--help"}, nil, 0, "[INFERENCE_MODEL_BASE]"},
		{"help lists the poll", []string{"-h"}, nil, 0, "[INFERENCE_POLL]"},
		{"no model base", nil, nil, 2, "INFERENCE_MODEL_BASE"},
		{"missing model base", []string{"--model-base", filepath.Join(base, "missing")}, nil, 2, "INFERENCE_MODEL_BASE"},
		{"model base a file", nil, []string{"INFERENCE_MODEL_BASE=" + file}, 2, "not a directory"},
		{"bad poll", []string{"--model-base", base}, []string{"INFERENCE_POLL=often"}, 2, "INFERENCE_POLL"},
		{"poll too short", []string{"--model-base", base, "--poll", "1ms"}, nil, 2, "INFERENCE_POLL"},
		{"bad body limit", []string{"--model-base", base, "--max-body-bytes", "10"}, nil, 2, "INFERENCE_MAX_BODY_BYTES"},
		{"bad log level", []string{"--model-base", base, "--log-level", "loud"}, nil, 2, "INFERENCE_LOG_LEVEL"},
		{"unknown flag", []string{"--model-dir", base}, nil, 2, "flag provided but not defined"},
		{"stray argument", []string{"--model-base", base, "extra"}, nil, 2, "unexpected argument"},
		{"port in use", []string{"--model-base", base, "--listen", busy, "--admin-listen", freeAddr(t)}, nil, 1, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out, tt.code, tt.want)
			}
		})
	}
}

// The binary serves the original sender's request, becomes ready, and exits 0 on
// SIGTERM.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin := build(t)
	base := t.TempDir()
	m := inferencetest.Baseline(inferencetest.Name, 4)
	inferencetest.Write(t, base, m)
	api, admin := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "INFERENCE_MODEL_BASE="+base, "INFERENCE_LISTEN="+api, "INFERENCE_ADMIN_LISTEN="+admin)
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("inference log:\n%s", logs.String())
		}
	})
	waitReady(t, "http://"+admin)
	w := inferencetest.Window(m, 19.5)
	got := predict(t, "http://"+api, `{"inputs": [`+inferencetest.JSON(w)+`]}`)
	if want := inferencetest.Predict(t, m, w); !reflect.DeepEqual(got, want) {
		t.Fatalf("outputs %v, want %v", got, want)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit 20 s after SIGTERM")
	}
	checkStartLine(t, logs.String())
}

// The whole program in-process through run: ready, serving, its metrics, a clean stop.
func TestMainInProcess(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	m := inferencetest.Baseline(inferencetest.Name, 1)
	inferencetest.Write(t, base, m)
	api, admin := freeAddr(t), freeAddr(t)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	code, stopped := -1, make(chan struct{})
	go func() {
		code = run(ctx, []string{"--model-base", base, "--listen", api, "--admin-listen", admin, "--poll", "200ms"}, &logs)
		close(stopped)
	}()
	defer func() {
		cancel()
		<-stopped
	}()
	waitReady(t, "http://"+admin)
	w := inferencetest.Window(m, 23)
	for range 3 {
		got := predict(t, "http://"+api, `{"instances": [`+inferencetest.JSON(w)+`]}`)
		if want := inferencetest.Predict(t, m, w); !reflect.DeepEqual(got, want) {
			t.Fatalf("predictions %v, want %v", got, want)
		}
	}
	fams, err := promscrape.Scrape(context.Background(), "http://"+admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		metric string
		labels []string
		want   float64
	}{
		{"inference_predictions_total", []string{"model", "service"}, 3},
		{"inference_model_version", []string{"model", "service"}, 1},
		{"inference_model_load_failures_total", nil, -1}, // none yet: absent
		{"inference_requests_rejected_total", []string{"reason", "not_json"}, 0},
	} {
		v, ok := fams.Value(tt.metric, tt.labels...)
		if tt.want < 0 {
			if ok {
				t.Errorf("%s = %v, want absent", tt.metric, v)
			}
			continue
		}
		if !ok || v != tt.want {
			t.Errorf("%s%v = %v (%v), want %v", tt.metric, tt.labels, v, ok, tt.want)
		}
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if code != 0 {
		t.Fatalf("exit code %d after a clean stop\n%s", code, logs.String())
	}
	checkStartLine(t, logs.String())
}

// waitReady waits for the admin endpoint at admin (a base URL) to answer /readyz 200.
func waitReady(t *testing.T, admin string) {
	t.Helper()
	servertest.WaitFor(t, admin+"/readyz to answer 200", func() bool {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// predict posts body and returns the one output tensor of the answer.
func predict(t *testing.T, api, body string) [][]float64 {
	t.Helper()
	resp, err := http.Post(api+"/v1/models/service:predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var got map[string][][]float64
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 200 || len(got) != 1 {
		t.Fatalf("%d %s %v", resp.StatusCode, b, err)
	}
	for _, v := range got {
		return v
	}
	return nil
}

// checkStartLine wants the first log line to be the JSON start line.
func checkStartLine(t *testing.T, logs string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	if !sc.Scan() {
		t.Fatal("no log line")
	}
	var l struct {
		Level, Msg, Component string
		Config                map[string]any
	}
	if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Msg != "inference starting" || l.Level != "INFO" || l.Component != "inference" || l.Config["model_base"] == nil {
		t.Errorf("first log line %q (%v), want the JSON start line with the config", sc.Text(), err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

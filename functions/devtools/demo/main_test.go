package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `make demo` as a user would, for a short while: the servers, the hub,
// the sender, firmware Pis and simulated devices come up, readings reach InfluxDB, the
// set-point hint is printed, and everything stops by itself.
func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-dir", t.TempDir(), "-duration", "20s", "-devices", "5", "-pis", "2", "-loop=false"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	text := out.String()
	for _, want := range []string{"Where to look:", "/api/v3/ping", "/metrics", "pi-1 command", "curl -X PUT", "stopped; data and logs are in"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`(\d+) readings acknowledged; (\d+) temperature and humidity values in InfluxDB`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no final summary in:\n%s", text)
	}
	acked, _ := strconv.Atoi(m[1])
	stored, _ := strconv.Atoi(m[2])
	if acked == 0 || stored == 0 {
		t.Errorf("demo acknowledged %d readings and stored %d values; want both > 0:\n%s", acked, stored, text)
	}
}

// With the loop and the dashboard (make demo's defaults) the demo commissions its
// Pis, trains, starts inference and the controller, and prints what the controller
// decides: set-points from the original's 18 C upwards. Meanwhile an operator uses the
// dashboard in a real browser (see browse). Once the controller has raised pi-1 the
// test stops the demo as Ctrl-C would; -duration bounds it, with room for the step
// tests the demo repeats when the trainer refuses a model.
func TestDemoLoop(t *testing.T) {
	t.Parallel()
	var out output
	var errOut bytes.Buffer
	code := -1
	done := make(chan struct{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		defer close(done)
		code = run(ctx, []string{"-dir", t.TempDir(), "-duration", "600s", "-devices", "2", "-pis", "2", "-commission-hold", "12s"}, &out, &errOut)
	}()
	raised := regexp.MustCompile(`controller \S+  pi-1: auto, set-point (19|2\d) C: model predicts`)
	t.Run("dashboard in a browser", func(t *testing.T) { browse(t, &out, done, 2) })
wait:
	for !raised.MatchString(out.String()) {
		select {
		case <-done:
			break wait
		case <-time.After(200 * time.Millisecond):
		}
	}
	stop()
	<-done
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	text := out.String()
	for _, want := range []string{"loop: a step test", "commissioning: set-point 26 C", "loop: model trained", "/api/v1/state"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if !raised.MatchString(text) {
		t.Errorf("no decision of the controller raising pi-1 from 18 C in:\n%s", text)
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-devices", "0"}, {"-pis", "-1"}, {"-interval", "0s"}, {"-nope"},
		{"-sim-speed", "0"}, {"-pis", "0"}, {"-commission-hold", "0s"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("demo %v exited %d, want 2 (stderr %q)", args, code, &errOut)
		}
		if errOut.Len() == 0 {
			t.Errorf("demo %v said nothing on stderr", args)
		}
	}
}

// The demo empties only a folder it made: a folder with someone's files in it is
// refused and left untouched, with or without -keep.
func TestPrepareDir(t *testing.T) {
	write := func(t *testing.T, dir, name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		setup     func(t *testing.T, dir string)
		keep      bool
		wantErr   bool
		wantFiles []string // besides the marker, after prepareDir
	}{
		{name: "new folder", setup: func(t *testing.T, dir string) { _ = os.Remove(dir) }},
		{name: "empty folder", setup: func(t *testing.T, dir string) {}},
		{name: "someone's folder", setup: func(t *testing.T, dir string) { write(t, dir, "thesis.tex") }, wantErr: true, wantFiles: []string{"thesis.tex"}},
		{name: "someone's folder, keep", setup: func(t *testing.T, dir string) { write(t, dir, "thesis.tex") }, keep: true, wantErr: true, wantFiles: []string{"thesis.tex"}},
		{name: "the demo's folder", setup: func(t *testing.T, dir string) { write(t, dir, dirMarker); write(t, dir, "influxdb.log") }},
		{name: "the demo's folder, keep", setup: func(t *testing.T, dir string) { write(t, dir, dirMarker); write(t, dir, "influxdb.log") }, keep: true, wantFiles: []string{"influxdb.log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			err := prepareDir(dir, tt.keep)
			if (err != nil) != tt.wantErr {
				t.Fatalf("prepareDir = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the folder", err)
			}
			entries, _ := os.ReadDir(dir)
			var got []string
			marked := false
			for _, e := range entries {
				if e.Name() == dirMarker {
					marked = true
					continue
				}
				got = append(got, e.Name())
			}
			if strings.Join(got, ",") != strings.Join(tt.wantFiles, ",") {
				t.Errorf("files after prepareDir: %v, want %v", got, tt.wantFiles)
			}
			if marked == tt.wantErr {
				t.Errorf("marker present = %v after prepareDir = %v", marked, err)
			}
		})
	}
}

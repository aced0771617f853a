package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemo runs `make demo` as a user would, for a short while: the servers, the hub,
// the sender, firmware Pis and simulated devices come up, readings reach InfluxDB, the
// set-point hint is printed, and everything stops by itself.
func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-dir", t.TempDir(), "-duration", "20s", "-devices", "5", "-pis", "2"}, &out, &errOut)
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

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-devices", "0"}, {"-pis", "-1"}, {"-interval", "0s"}, {"-nope"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("demo %v exited %d, want 2 (stderr %q)", args, code, &errOut)
		}
		if errOut.Len() == 0 {
			t.Errorf("demo %v said nothing on stderr", args)
		}
	}
}

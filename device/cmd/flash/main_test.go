package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestTargetFor(t *testing.T) {
	for _, tc := range []struct {
		machine string
		bits    int
		want    string
	}{
		{"armv6l", 32, "armv6"},
		{"armv7l", 32, "armv7"},
		{"aarch64", 32, "armv7"}, // 32-bit Pi OS on a 64-bit kernel
		{"aarch64", 64, "arm64"},
		{"x86_64", 64, "amd64"},
	} {
		if got, err := targetFor(tc.machine, tc.bits); err != nil || got != tc.want {
			t.Errorf("targetFor(%s, %d) = %q, %v; want %q", tc.machine, tc.bits, got, err, tc.want)
		}
	}
	if _, err := targetFor("mips", 32); err == nil {
		t.Error("mips accepted")
	}
}

func TestRuns(t *testing.T) {
	for _, tc := range []struct {
		need, have string
		ok         bool
	}{
		{"armv7", "armv7", true}, {"armv7", "armv6", true}, {"armv6", "armv7", false},
		{"arm64", "armv7", false}, {"amd64", "arm64", false}, {"arm64", "arm64", true},
	} {
		if runs(tc.need, tc.have) != tc.ok {
			t.Errorf("runs(%s, %s) = %v", tc.need, tc.have, !tc.ok)
		}
	}
}

func TestParseFacts(t *testing.T) {
	f, err := parseFacts("aarch64\n64\n1000\n/usr/bin/systemctl\n")
	if err != nil || f.target != "arm64" || f.uid != 1000 || !f.systemd {
		t.Errorf("parseFacts = %+v, %v", f, err)
	}
	f, err = parseFacts("armv6l\n32\n0\nnone\n")
	if err != nil || f.target != "armv6" || f.uid != 0 || f.systemd {
		t.Errorf("parseFacts = %+v, %v", f, err)
	}
	for _, in := range []string{"", "armv6l\n32\n", "armv6l\nx\n0\nnone", "armv6l\n32\nroot\nnone"} {
		if _, err := parseFacts(in); err == nil {
			t.Errorf("parseFacts(%q) accepted", in)
		}
	}
}

func TestBinaryTarget(t *testing.T) {
	// The test binary is a Go binary for this machine.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := binaryTarget(self); err != nil || got == "" {
		t.Errorf("binaryTarget(test binary) = %q, %v", got, err)
	}
	if _, err := binaryTarget("main.go"); err == nil {
		t.Error("a source file passed as a binary")
	}
}

func TestQuote(t *testing.T) {
	if got := quote("it's /a b"); got != `'it'\''s /a b'` {
		t.Errorf("quote = %s", got)
	}
}

func TestUnit(t *testing.T) {
	u := Unit(false)
	if !strings.Contains(u, "ExecStart=/usr/local/bin/smartx-firmware --config /etc/smartx/firmware.conf\n") || strings.Contains(u, "{{") {
		t.Errorf("unit:\n%s", u)
	}
	if !strings.Contains(Unit(true), "--token-file /etc/smartx/firmware.token") {
		t.Error("unit with token lacks --token-file")
	}
}

func TestUsage(t *testing.T) {
	t.Setenv("FLASH_PI", "")
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "make flash PI=user@host") {
		t.Errorf("no PI: exit %d, %q", code, errOut.String())
	}
	if code := run([]string{"-pi", "x", "-config", "/nonexistent"}, &out, &errOut); code != 1 {
		t.Errorf("missing config: exit %d", code)
	}
}

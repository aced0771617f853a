package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

type testSettings struct {
	level string
	bad   error
}

func (s testSettings) Validate() error { return s.bad }

var (
	errTestConfig  = errors.New("bad setting")
	errTestRefused = errors.New("model not written")
)

// Every way a program ends, with its exit code and what it says on stderr.
func TestProgramExitCodes(t *testing.T) {
	for _, tt := range []struct {
		name     string
		parseErr error
		settings testSettings
		runErr   error
		code     int
		stderr   string
	}{
		{"clean stop", nil, testSettings{level: "info"}, nil, 0, ""},
		{"help", flag.ErrHelp, testSettings{}, nil, 0, ""},
		{"bad flag", errors.New("flag provided but not defined: -x"), testSettings{}, nil, 2, "demo: flag provided but not defined: -x"},
		{"bad setting", nil, testSettings{level: "info", bad: errors.New("DEMO_PORT: 0")}, nil, 2, "demo: DEMO_PORT: 0"},
		{"bad log level", nil, testSettings{level: "loud"}, nil, 2, "demo: "},
		{"setting found bad in Run", nil, testSettings{level: "info"}, errTestConfig, 2, "demo: bad setting"},
		{"run fails", nil, testSettings{level: "info"}, errors.New("kafka gone"), 1, `"msg":"demo failed","component":"demo","err":"kafka gone"`},
		{"checks refuse", nil, testSettings{level: "info"}, fmt.Errorf("%w: worse than the baseline", errTestRefused), 3, `"err":"model not written: worse than the baseline"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			ran := false
			code := Program[testSettings]{
				Name:     "demo",
				Parse:    func([]string, io.Writer) (testSettings, error) { return tt.settings, tt.parseErr },
				LogLevel: func(s testSettings) string { return s.level },
				Run: func(context.Context, testSettings, *slog.Logger) error {
					ran = true
					return tt.runErr
				},
				ErrConfig:  errTestConfig,
				ErrRefused: errTestRefused,
				Failed:     "demo failed",
			}.Main(context.Background(), nil, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if wantRun := tt.parseErr == nil && tt.settings.bad == nil && tt.settings.level != "loud"; ran != wantRun {
				t.Errorf("Run called %v, want %v", ran, wantRun)
			}
		})
	}
}

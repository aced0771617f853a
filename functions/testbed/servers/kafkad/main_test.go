package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    config
		wantErr string
	}{
		{
			name: "all flags",
			args: []string{"--port", "9999", "--data-dir", "/d", "--partitions", "3", "--topics", "a, b,,c", "--log-level", "INFO"},
			want: config{Port: 9999, DataDir: "/d", Partitions: 3, Topics: []string{"a", "b", "c"}, LogLevel: kfake.LogLevelInfo},
		},
		{
			name: "defaults",
			args: []string{"--data-dir", "/d"},
			want: config{Port: 9092, DataDir: "/d", Partitions: 1, LogLevel: kfake.LogLevelWarn},
		},
		{name: "no data dir", args: nil, wantErr: "--data-dir"},
		{name: "bad port", args: []string{"--data-dir", "/d", "--port", "0"}, wantErr: "--port"},
		{name: "bad partitions", args: []string{"--data-dir", "/d", "--partitions", "0"}, wantErr: "--partitions"},
		{name: "bad log level", args: []string{"--data-dir", "/d", "--log-level", "loud"}, wantErr: "--log-level"},
		{name: "stray argument", args: []string{"--data-dir", "/d", "extra"}, wantErr: "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.args, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Port != tt.want.Port || got.DataDir != tt.want.DataDir || got.Partitions != tt.want.Partitions ||
				got.LogLevel != tt.want.LogLevel || !slices.Equal(got.Topics, tt.want.Topics) {
				t.Errorf("parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRunHelpAndUsage(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"--help"}, &out, &errs); code != 0 || !strings.Contains(errs.String(), "-data-dir") {
		t.Errorf("--help: exit %d, output %q", code, errs.String())
	}
	errs.Reset()
	if code := run(nil, &out, &errs); code != 2 || !strings.Contains(errs.String(), "--data-dir: required") {
		t.Errorf("no flags: exit %d, output %q", code, errs.String())
	}
}

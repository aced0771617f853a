package edgexrest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name, in string
		devices  int
		wantErr  string
	}{
		{name: "two devices", in: `{"pi-1": "a-long-token", "pi-2": "b"}`, devices: 2},
		{name: "empty object", in: `{}`, devices: 0},
		{name: "array", in: `["pi-1"]`, wantErr: "JSON object"},
		{name: "not JSON", in: `pi-1=tok`, wantErr: "JSON object"},
		{name: "number token", in: `{"pi-1": 7}`, wantErr: "non-empty string"},
		{name: "empty token", in: `{"pi-1": ""}`, wantErr: "non-empty string"},
		{name: "padded token", in: `{"pi-1": " tok"}`, wantErr: "surrounding space"},
		{name: "duplicate device", in: `{"pi-1": "a", "pi-1": "b"}`, wantErr: "twice"},
		{name: "bad device name", in: `{"pi\u0001": "a"}`, wantErr: "device name"},
		{name: "trailing data", in: `{"pi-1": "a"} {}`, wantErr: "trailing"},
		{name: "truncated", in: `{"pi-1": "a"`, wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseTokens([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || tok.Len() != tt.devices {
				t.Fatalf("got %v devices, %v; want %d", tok, err, tt.devices)
			}
		})
	}
	// Errors never show a token.
	_, err := ParseTokens([]byte(`{"pi-1": "s3cret-token", "pi-1": "s3cret-token"}`))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v leaks the token", err)
	}
}

func TestTokenCheck(t *testing.T) {
	tok, err := ParseTokens([]byte(`{"pi-1": "tok-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		device, header string
		want           authResult
	}{
		{"pi-1", "Bearer tok-1", authOK},
		{"pi-1", "bearer tok-1", authOK},
		{"pi-1", "Bearer tok-2", authWrong},
		{"pi-1", "Bearer tok-1x", authWrong},
		{"pi-1", "Basic dG9r", authMissing},
		{"pi-1", "", authMissing},
		{"pi-2", "Bearer tok-1", authNoSuchDev},
		{"pi-2", "", authNoSuchDev},
	} {
		if got := tok.check(tt.device, tt.header); got != tt.want {
			t.Errorf("check(%q, %q) = %v, want %v", tt.device, tt.header, got, tt.want)
		}
	}
}

// A changed tokens file takes effect without a restart; a broken one is ignored.
func TestTokenFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	write := func(v string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"pi-1": "old"}`)
	f, err := LoadTokenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, 10*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })

	write(`{"pi-1": "new"}`)
	servertest.WaitFor(t, "the new token", func() bool { return f.Get().check("pi-1", "Bearer new") == authOK })
	write(`{"pi-1": `)
	rounds := f.rounds.Load()
	servertest.WaitFor(t, "three reload rounds over the broken file", func() bool { return f.rounds.Load() >= rounds+3 })
	if f.Get().check("pi-1", "Bearer new") != authOK {
		t.Error("a broken tokens file replaced the working tokens")
	}
	if _, err := LoadTokenFile(path, nil); err == nil {
		t.Error("loading a broken tokens file at start succeeded")
	}
}

func FuzzParseTokens(f *testing.F) {
	f.Add([]byte(`{"pi-1": "tok-1", "pi-2": "tok-2"}`))
	f.Add([]byte(`{"a":"b","a":"c"}`))
	f.Add([]byte(`{"\u0000": "x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := ParseTokens(b)
		if err != nil {
			return
		}
		// Whatever parses is a JSON object of strings, and each token checks.
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted %q, which is not a JSON object of strings: %v", b, err)
		}
		if len(m) != tok.Len() {
			t.Fatalf("accepted %d devices, JSON has %d", tok.Len(), len(m))
		}
		for d, v := range m {
			if tok.check(d, "Bearer "+v) != authOK {
				t.Fatalf("token of %q does not check", d)
			}
		}
	})
}

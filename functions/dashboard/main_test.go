package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The exit codes a user and Kubernetes see: 0 after --help, 2 for a bad setting found
// before anything starts or when the users file is read, with the variable named.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "users")
	if err := os.WriteFile(bad, []byte("kim:plain-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		say  string
	}{
		{"help", []string{"--help"}, 0, "DASHBOARD_USERS_FILE"},
		{"no users file", nil, 2, "DASHBOARD_USERS_FILE"},
		{"missing users file", []string{"--users-file", filepath.Join(dir, "nope")}, 2, "DASHBOARD_USERS_FILE"},
		{"plain password", []string{"--users-file", bad, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, 2, "not a bcrypt hash"},
		{"unknown flag", []string{"--nope"}, 2, "nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.say) {
				t.Errorf("exit %d, stderr %q; want %d saying %q", code, &stderr, tt.code, tt.say)
			}
			if strings.Contains(stderr.String(), "plain-password") {
				t.Error("the password was shown")
			}
		})
	}
}

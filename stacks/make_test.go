package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make up and make destroy pass PULUMI_ARGS to pulumi (default: nothing), so that a
// script can run them with --yes. The targets run as a dry run (make -n), which prints
// the recipes, images' included, and runs none of them: the pulumi it names is a
// script that would leave a mark.
func TestMakePassesPulumiArgs(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	pulumi := filepath.Join(dir, "pulumi")
	if err := os.WriteFile(pulumi, []byte("#!/bin/sh\ntouch '"+mark+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The environment of the test, without make's own variables or any setting of
	// ours a calling make or shell may have exported.
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PULUMI_ARGS", "PULUMI", "STACK", "REGISTRY":
			continue
		}
		env = append(env, kv)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // the pulumi command line make prints
	}{
		{"up", []string{"up"}, pulumi + " up --stack local"},
		{"up --yes", []string{"up", "PULUMI_ARGS=--yes"}, pulumi + " up --stack local --yes"},
		{"up for a script", []string{"up", "STACK=aws-dev", "PULUMI_ARGS=--yes --skip-preview"}, pulumi + " up --stack aws-dev --yes --skip-preview"},
		{"destroy", []string{"destroy"}, pulumi + " destroy --stack local"},
		{"destroy --yes", []string{"destroy", "PULUMI_ARGS=--yes"}, pulumi + " destroy --stack local --yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("make", append([]string{"-n", "--no-print-directory", "REGISTRY=x", "PULUMI=" + pulumi}, tc.args...)...)
			cmd.Dir = ".."
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %v: %v\n%s", tc.args, err, out)
			}
			var lines []string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, pulumi+" up ") || strings.HasPrefix(line, pulumi+" destroy ") {
					lines = append(lines, strings.TrimSpace(line))
				}
			}
			if len(lines) != 1 || lines[0] != tc.want {
				t.Errorf("pulumi command lines %q, want [%q]; make printed:\n%s", lines, tc.want, out)
			}
			if tc.args[0] == "up" && !strings.Contains(string(out), "stacks/images/images.sh") {
				t.Errorf("make up does not build the images first:\n%s", out)
			}
			if _, err := os.Stat(mark); err == nil {
				t.Fatal("make -n ran pulumi")
			}
		})
	}
}

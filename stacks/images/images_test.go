package images_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/stacks/internal/controlplane"
)

// startRegistry serves an in-memory OCI registry (crane registry serve) on 127.0.0.1
// and returns its host:port; it is stopped by PID when the test ends.
func startRegistry(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"crane", "ko"} {
		if _, err := os.Stat(filepath.Join(controlplane.Tools(), tool)); err != nil {
			t.Fatalf("%s missing: run `make tools` (.ci/tools.sh %s): %v", tool, tool, err)
		}
	}
	crane := filepath.Join(controlplane.Tools(), "crane")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var log bytes.Buffer
	cmd := exec.Command(crane, "registry", "serve", "--address", addr)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry not ready: %v\n%s", err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildImages runs stacks/images.sh and returns name -> reference.
func buildImages(t *testing.T, ctx context.Context, repo string) map[string]string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "bash", "images.sh", repo)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("images.sh: %v\n%s", err, stderr.String())
	}
	refs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, ref, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("images.sh printed %q", line)
		}
		refs[name] = ref
	}
	return refs
}

// TestImages builds every function image twice into a registry on 127.0.0.1 and checks
// that each is a multi-arch index referenced by digest, reproducible, and non-root.
func TestImages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	repo := startRegistry(t) + "/smartx"

	start := time.Now()
	first := buildImages(t, ctx, repo)
	t.Logf("phase %-28s %8.2fs", "images (first build)", time.Since(start).Seconds())
	start = time.Now()
	second := buildImages(t, ctx, repo)
	t.Logf("phase %-28s %8.2fs", "images (rebuild)", time.Since(start).Seconds())

	crane := filepath.Join(controlplane.Tools(), "crane")
	for _, name := range []string{"hubbridge", "sender", "inference", "trainer", "controller", "dashboard"} {
		ref := first[name]
		if !strings.HasPrefix(ref, repo+"/"+name+"@sha256:") {
			t.Errorf("%s: reference %q is not by digest in %s", name, ref, repo)
			continue
		}
		if second[name] != ref {
			t.Errorf("%s: rebuild gave %s, first build %s: not reproducible", name, second[name], ref)
		}
		out, err := exec.CommandContext(ctx, crane, "manifest", ref).Output()
		if err != nil {
			t.Fatalf("crane manifest %s: %v", ref, err)
		}
		var index struct {
			Manifests []struct {
				Platform struct{ OS, Architecture string } `json:"platform"`
			} `json:"manifests"`
		}
		if err := json.Unmarshal(out, &index); err != nil {
			t.Fatal(err)
		}
		var platforms []string
		for _, m := range index.Manifests {
			platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
		}
		slices.Sort(platforms)
		if fmt.Sprint(platforms) != "[linux/amd64 linux/arm64]" {
			t.Errorf("%s: platforms %v, want linux/amd64 and linux/arm64", name, platforms)
		}
		for _, arch := range []string{"amd64", "arm64"} {
			out, err := exec.CommandContext(ctx, crane, "config", "--platform", "linux/"+arch, ref).Output()
			if err != nil {
				t.Fatalf("crane config %s: %v", ref, err)
			}
			var cfg struct {
				Architecture string `json:"architecture"`
				Config       struct {
					User       string   `json:"User"`
					Entrypoint []string `json:"Entrypoint"`
				} `json:"config"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			// The sender README tells operators to run /ko-app/sender replay in the pod.
			if cfg.Architecture != arch || !strings.HasPrefix(cfg.Config.User, "65532") || fmt.Sprint(cfg.Config.Entrypoint) != "[/ko-app/"+name+"]" {
				t.Errorf("%s %s: architecture %q user %q entrypoint %v", name, arch, cfg.Architecture, cfg.Config.User, cfg.Config.Entrypoint)
			}
		}
	}
}

// Package cloudinittest checks rendered user data in tests: it parses the document as
// cloud-config, lints every script in it with shellcheck, writes its files into a
// scratch root and runs the boot script's rendering there, returning the k3s config
// the node would start with.
package cloudinittest

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit"
)

// ToolsBinEnv names the directory searched first for tools (as everywhere in the repository).
const ToolsBinEnv = "SMARTX_TOOLS_BIN"

// Tool returns the path of an installed tool, looking in $SMARTX_TOOLS_BIN, then in
// ${XDG_CACHE_HOME:-$HOME/.cache}/smartx-overcloud/tools/bin (where .ci/tools.sh links
// them), then in $PATH. A missing tool fails the test: the checks it runs are part of
// the proof, so they are never skipped.
func Tool(t testing.TB, name string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv(ToolsBinEnv); d != "" {
		dirs = append(dirs, d)
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	if cache != "" {
		dirs = append(dirs, filepath.Join(cache, "smartx-overcloud", "tools", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s is not installed: run `bash .ci/tools.sh %s` (or set %s to a directory holding it)", name, name, ToolsBinEnv)
	return ""
}

// Parse parses user data as cloud-config: the #cloud-config header, then YAML that
// decodes into cloudinit.Config with no unknown keys.
func Parse(t testing.TB, userData string) *cloudinit.Config {
	t.Helper()
	if !strings.HasPrefix(userData, cloudinit.Header) {
		t.Fatalf("user data does not start with %q: %.40q", cloudinit.Header, userData)
	}
	var generic map[string]any
	if err := yaml.Unmarshal([]byte(userData), &generic); err != nil {
		t.Fatalf("user data is not YAML: %v", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(userData))
	dec.KnownFields(true)
	var c cloudinit.Config
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("user data is not the cloud-config we write: %v", err)
	}
	if len(c.RunCmd) == 0 || len(c.WriteFiles) == 0 {
		t.Fatalf("cloud-config has no runcmd or no write_files")
	}
	return &c
}

// Shellcheck lints a script (all checks, severity style and above) and fails the test
// on any finding.
func Shellcheck(t testing.TB, name, script string) {
	t.Helper()
	cmd := exec.Command(Tool(t, "shellcheck"), "--severity=style", "--external-sources", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", name, err, out.String())
	}
}

// Node is a node booted as far as rendering its k3s config.
type Node struct {
	// Root is the scratch root the files were written to.
	Root string
	// Config is the parsed cloud-config.
	Config *cloudinit.Config
	// K3s is the rendered /etc/rancher/k3s/config.yaml.
	K3s map[string]any
	// K3sText is the same file as text.
	K3sText string
}

// Content returns the decoded content of the file written at path, and whether the
// cloud-config writes it.
func (n *Node) Content(path string) (cloudinit.File, string, bool) {
	for _, f := range n.Config.WriteFiles {
		if f.Path == path {
			return f, decode(nil, f), true
		}
	}
	return cloudinit.File{}, "", false
}

// Boot parses the user data, shellchecks every script it writes, writes its files
// into a scratch root with their permissions, runs every runcmd entry with
// --render-only and SMARTX_ROOT set to that root (bash, as the current user), and
// parses the k3s config it rendered.
func Boot(t testing.TB, userData string) *Node {
	t.Helper()
	c := Parse(t, userData)
	root := t.TempDir()
	for _, f := range c.WriteFiles {
		content := decode(t, f)
		if strings.HasPrefix(content, "#!") {
			Shellcheck(t, f.Path, content)
		}
		perm, err := strconv.ParseUint(f.Permissions, 8, 32)
		if err != nil || !filepath.IsAbs(f.Path) || f.Owner != "root:root" {
			t.Fatalf("write_files %s: permissions %q owner %q", f.Path, f.Permissions, f.Owner)
		}
		p := filepath.Join(root, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), os.FileMode(perm)); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range c.RunCmd {
		if len(cmd) == 0 || !filepath.IsAbs(cmd[0]) {
			t.Fatalf("runcmd entry %q: want an absolute path", cmd)
		}
		if len(cmd) > 1 {
			t.Fatalf("runcmd entry %q: the boot script takes no arguments", cmd)
		}
		if out, err := Command(filepath.Join(root, cmd[0]), root).CombinedOutput(); err != nil {
			t.Fatalf("run %s --render-only: %v\n%s", cmd[0], err, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, cloudinit.ConfigPath))
	if err != nil {
		t.Fatalf("boot script rendered no k3s config: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, cloudinit.ConfigPath)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("k3s config: %v, want mode 0600", fi)
	}
	var k3s map[string]any
	if err := yaml.Unmarshal(b, &k3s); err != nil {
		t.Fatalf("rendered k3s config is not YAML: %v\n%s", err, b)
	}
	return &Node{Root: root, Config: c, K3s: k3s, K3sText: string(b)}
}

func decode(t testing.TB, f cloudinit.File) string {
	switch f.Encoding {
	case "":
		return f.Content
	case "b64":
		b, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil && t != nil {
			t.Fatalf("write_files %s: bad base64: %v", f.Path, err)
		}
		return string(b)
	}
	if t != nil {
		t.Fatalf("write_files %s: unknown encoding %q", f.Path, f.Encoding)
	}
	return ""
}

// Command returns the command that runs a boot script with --render-only against root.
func Command(script, root string) *exec.Cmd {
	cmd := exec.Command("bash", script, "--render-only")
	cmd.Env = append(os.Environ(), "SMARTX_ROOT="+root)
	return cmd
}

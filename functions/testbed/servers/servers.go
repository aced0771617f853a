// Package servers starts real protocol servers on 127.0.0.1 for tests, the demo and the
// benchmark, each as its own process on free ports with its data in a directory the
// caller owns, and stops them by PID.
//
// Which real server stands in for what, and why:
//
//   - Kafka: kfake (github.com/twmb/franz-go/pkg/kfake), an in-process Kafka-protocol
//     cluster, run in its own process by the small kafkad command of this module so a
//     test can stop and restart "the broker" with its data. Debian has no Kafka, and
//     kfake speaks the real protocol: kafka-go producers with acks=all, consumer groups
//     and committed offsets work against it, and its data dir keeps topics, records and
//     offsets across restarts.
//   - MongoDB: FerretDB v1.24.0, which speaks the MongoDB wire protocol, with its SQLite
//     backend in the data dir. MongoDB itself is not installable here; FerretDB has no
//     transactions or change streams, which our outbox does not use.
//   - InfluxDB 2: InfluxDB OSS 1.8.10, which serves the v2-compatible write and Flux
//     query APIs (bucket "db/rp"), the only ones our functions use. InfluxDB 2.x cannot
//     be built here.
//   - MQTT: Debian's mosquitto, the broker EdgeX deployments use.
//   - EdgeX Foundry: its own core-metadata, core-data and core-command v4.0.2, built
//     from the edgex-go source (.ci/tools.sh edgex), in non-secure mode without
//     Consul, on a PostgreSQL 15 cluster of their own (Debian's, initdb on a free port)
//     and mosquitto.
//
// The binaries come from .ci/tools.sh ("make tools"); see [Tool]. Every server listens on
// 127.0.0.1 only. A [Proc] keeps its ports and data dir across Stop and Start, so a test
// can take a server away and bring it back with its data. Servers get SIGKILL if the
// process that started them dies (Linux Pdeathsig), so a crashed test leaks none.
package servers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// ErrNotInstalled is returned (wrapped) by [Tool] when a tool is found nowhere.
var ErrNotInstalled = errors.New("not installed")

// ToolsBinEnv names the environment variable of a directory searched first by [Tool].
const ToolsBinEnv = "SMARTX_TOOLS_BIN"

// cacheRoot is where .ci/tools.sh keeps tools and where BuildGo keeps binaries.
func cacheRoot() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "smartx-overcloud")
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "smartx-overcloud")
}

// Tool returns the path of an installed tool (influxd, ferretdb, mosquitto,
// staticcheck, ...), looking in order in $SMARTX_TOOLS_BIN, in
// ${XDG_CACHE_HOME:-$HOME/.cache}/smartx-overcloud/tools/bin (where .ci/tools.sh links
// them), in $PATH, and last in /usr/local/sbin and /usr/sbin (Debian puts mosquitto in
// sbin, which is not in every user's PATH). Broken links are skipped. When none has it,
// the error wraps [ErrNotInstalled] and says how to install it.
func Tool(name string) (string, error) {
	var dirs []string
	if d := os.Getenv(ToolsBinEnv); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join(cacheRoot(), "tools", "bin"))
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
		return p, nil
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/sbin"} {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s %w: run \"make tools\" (or bash .ci/tools.sh %s), or set %s to a directory holding it", name, ErrNotInstalled, name, ToolsBinEnv)
}

// isExecutable reports whether p, after following links, is a regular executable file.
func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another process
// may take it before the caller binds it; the servers here keep the port for their life.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n distinct free ports. Holding all listeners until the end keeps
// the kernel from handing out the same port twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// builds holds one entry per package built by BuildGo in this process.
var builds = struct {
	sync.Mutex
	m map[string]*buildEntry
}{m: map[string]*buildEntry{}}

type buildEntry struct {
	mu   sync.Mutex
	path string // set once a build succeeded
}

// BuildGo builds a main package of this module (an import path, or a path relative to
// the module root such as "./functions/testbed/servers/kafkad") once per process and
// returns the binary's path. The module root is found with `go env GOMOD` from the
// current directory. A failed or cancelled build is retried by the next call.
//
// Binaries live in ${XDG_CACHE_HOME:-$HOME/.cache}/smartx-overcloud/build/<checkout>/,
// one file per package and checkout, replaced atomically by each build: test binaries
// cannot clean up at exit, and this way repeated runs reuse one file per package instead
// of leaking one per run. Processes still running an older binary keep it (rename).
func BuildGo(ctx context.Context, pkg string) (string, error) {
	builds.Lock()
	e := builds.m[pkg]
	if e == nil {
		e = &buildEntry{}
		builds.m[pkg] = e
	}
	builds.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.path != "" {
		return e.path, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(cacheRoot(), "build", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	psum := sha256.Sum256([]byte(pkg))
	name := path.Base(pkg) + "-" + hex.EncodeToString(psum[:4])
	out := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	_ = tmp.Close()
	defer func() { _ = os.Remove(tmp.Name()) }()

	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp.Name(), pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	e.path = out
	return out, nil
}

// moduleRoot returns the directory of the go.mod governing the current directory.
func moduleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

package e2e

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// tool finds a program the project installs with .ci/tools.sh: in the tool cache's
// bin, then on PATH, then in the sbin folders. A missing one fails the test.
func tool(t *testing.T, name, installer string) string {
	t.Helper()
	cands := []string{}
	if d := os.Getenv("SMARTX_TOOLS_BIN"); d != "" {
		cands = append(cands, filepath.Join(d, name))
	}
	if home, err := os.UserCacheDir(); err == nil {
		cands = append(cands, filepath.Join(home, "smartx-overcloud", "tools", "bin", name))
	}
	if p, err := exec.LookPath(name); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/sbin/"+name, "/usr/bin/"+name)
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c
		}
	}
	t.Fatalf("%s not found: install it with `bash .ci/tools.sh %s` (make tools does)", name, installer)
	return ""
}

// makeTarget runs make in the repository root and returns its output.
func makeTarget(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", repoRoot}, args...)...)
	// Not a sub-make of a `make test` that may be running this test: its jobserver
	// and flags are not ours.
	var base []string
	for _, kv := range cleanEnv() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			base = append(base, kv)
		}
	}
	cmd.Env = append(base, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var (
	distOnce sync.Once
	distDir  string
	distOut  string
	distErr  error
)

// dist runs `make firmware` once per test run into its own folder.
func dist(t *testing.T) string {
	t.Helper()
	distOnce.Do(func() {
		distDir = filepath.Join(binDir, "dist")
		distOut, distErr = makeTarget(t, nil, "firmware", "FIRMWARE_DIST="+distDir)
	})
	if distErr != nil {
		t.Fatalf("make firmware: %v\n%s", distErr, distOut)
	}
	return distDir
}

// TestMakeFirmware checks that make firmware built and named every target.
func TestMakeFirmware(t *testing.T) {
	t.Parallel()
	d := dist(t)
	for _, target := range []string{"armv6", "armv7", "arm64", "amd64"} {
		f := filepath.Join(d, "smartx-firmware-linux-"+target)
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(distOut, "linux-"+target) {
			t.Errorf("make firmware did not print target linux-%s:\n%s", target, distOut)
		}
		if fi.Size() > 10e6 {
			t.Errorf("%s is %.1f MB, over the 10 MB budget", f, float64(fi.Size())/1e6)
		}
	}
}

// TestQEMUSmoke runs each arm build under qemu-user in --simulate mode against the
// hub; each must register and post valid events. The armv6 build runs on an
// emulated ARM1176 (the Pi Zero/1's core), so ARMv7 instructions would crash it.
func TestQEMUSmoke(t *testing.T) {
	t.Parallel()
	d := dist(t)
	qarm := tool(t, "qemu-arm-static", "qemu")
	qarm64 := tool(t, "qemu-aarch64-static", "qemu")
	h := newHub(t, map[string]string{"qemu-armv6": "t6", "qemu-armv7": "t7", "qemu-arm64": "t8"})
	runs := []struct {
		target string
		argv   []string
		token  string
	}{
		{"armv6", []string{qarm, "-cpu", "arm1176"}, "t6"},
		{"armv7", []string{qarm, "-cpu", "cortex-a7"}, "t7"},
		{"arm64", []string{qarm64}, "t8"},
	}
	var procs []*proc
	for _, r := range runs {
		dev := "qemu-" + r.target
		argv := append(append(r.argv, filepath.Join(d, "smartx-firmware-linux-"+r.target)),
			firmwareArgs(h.URL(), dev, filepath.Join(t.TempDir(), "q.db"), "--interval", "500ms")...)
		procs = append(procs, startProc(t, dev, argv, cleanEnv("SMARTX_TOKEN="+r.token)))
	}
	waitFor(t, 90*time.Second, "5 events from each emulated Pi", func() bool {
		for _, r := range runs {
			if len(h.Readings("qemu-"+r.target)) < 30 {
				return false
			}
		}
		return true
	})
	for i, p := range procs {
		p.stop()
		if !p.logHas(`"msg":"registered with EdgeX"`) {
			t.Errorf("%s did not log its registration", runs[i].target)
		}
	}
}

// TestMakeFlash flashes the amd64 build to a real sshd on 127.0.0.1 playing the Pi
// (an x86_64 "Pi"): the binary, config, token and unit land under PI_ROOT with the
// right modes, and the restart command runs the installed binary. An arm64 binary is
// refused for that machine.
func TestMakeFlash(t *testing.T) {
	t.Parallel()
	sshd := tool(t, "sshd", "sshd")
	tool(t, "ssh", "sshd")
	keygen := tool(t, "ssh-keygen", "sshd")
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host_key", "user_key"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "flash-test", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "authorized_keys"), string(pub))
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	writeFile(t, filepath.Join(dir, "known_hosts"), fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub))
	writeFile(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf(`HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers %s
LogLevel ERROR
`, filepath.Join(dir, "host_key"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"), u.Username))
	writeFile(t, filepath.Join(dir, "ssh_config"), fmt.Sprintf(`Host pi-test
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
`, port, u.Username, filepath.Join(dir, "user_key"), filepath.Join(dir, "known_hosts")))
	if os.Geteuid() == 0 {
		// sshd running as root wants its privilege-separation directory, which the
		// package's init script would create.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	startProc(t, "sshd", []string{sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"),
		"-p", fmt.Sprint(port), "-o", "ListenAddress=127.0.0.1"}, cleanEnv())
	waitFor(t, 10*time.Second, "sshd to listen", func() bool {
		return exec.Command("ssh", "-F", filepath.Join(dir, "ssh_config"), "-o", "BatchMode=yes", "pi-test", "true").Run() == nil
	})

	piRoot := filepath.Join(dir, "pi")
	flashDist := filepath.Join(dir, "dist")
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, "device-secret\n")
	restart := fmt.Sprintf("'%s/usr/local/bin/smartx-firmware' --version > '%s/restarted' 2>&1", piRoot, piRoot)
	vars := []string{"PI=pi-test", "SSH_CONFIG=" + filepath.Join(dir, "ssh_config"), "PI_ROOT=" + piRoot,
		"FIRMWARE_DIST=" + flashDist, "CONFIG=device/firmware.conf", "TOKEN_FILE=" + tokenFile, "RESTART=" + restart}
	out, err := makeTarget(t, nil, append([]string{"flash"}, vars...)...)
	if err != nil {
		t.Fatalf("make flash: %v\n%s", err, out)
	}
	for _, step := range []string{"x86_64", "needs linux-amd64", "installing binary", "installing config", "installing token", "installing systemd unit", "restarting", "done"} {
		if !strings.Contains(out, step) {
			t.Errorf("make flash did not print %q:\n%s", step, out)
		}
	}
	same := func(installed, local string, mode os.FileMode) {
		t.Helper()
		a, err := os.ReadFile(filepath.Join(piRoot, installed))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(a) != sha256.Sum256(b) {
			t.Errorf("%s differs from %s", installed, local)
		}
		if fi, _ := os.Stat(filepath.Join(piRoot, installed)); fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", installed, fi.Mode().Perm(), mode)
		}
	}
	same("usr/local/bin/smartx-firmware", filepath.Join(flashDist, "smartx-firmware-linux-amd64"), 0o755)
	same("etc/smartx/firmware.conf", filepath.Join(repoRoot, "device/firmware.conf"), 0o644)
	same("etc/smartx/firmware.token", tokenFile, 0o600)
	unit, err := os.ReadFile(filepath.Join(piRoot, "etc/systemd/system/smartx-firmware.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/smartx-firmware --config /etc/smartx/firmware.conf --token-file /etc/smartx/firmware.token") {
		t.Errorf("unit's ExecStart is wrong:\n%s", unit)
	}
	restarted, err := os.ReadFile(filepath.Join(piRoot, "restarted"))
	if err != nil {
		t.Fatalf("the restart command did not run: %v", err)
	}
	if !strings.Contains(string(restarted), "smartx-firmware") || !strings.Contains(string(restarted), "linux-amd64") {
		t.Errorf("the installed binary answered %q to --version", restarted)
	}
	if strings.Contains(out, "device-secret") {
		t.Error("make flash printed the token")
	}

	// A binary for another architecture is refused before anything is installed.
	before, _ := os.Stat(filepath.Join(piRoot, "usr/local/bin/smartx-firmware"))
	out, err = makeTarget(t, nil, append([]string{"flash", "BINARY=" + filepath.Join(flashDist, "smartx-firmware-linux-arm64")}, vars...)...)
	if err == nil || !strings.Contains(out, "refusing") || !strings.Contains(out, "linux-arm64") {
		t.Errorf("flashing an arm64 binary to an x86_64 Pi: err %v, output:\n%s", err, out)
	}
	if after, _ := os.Stat(filepath.Join(piRoot, "usr/local/bin/smartx-firmware")); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the refused flash replaced the binary")
	}

	// Without PI there is a clear usage error.
	out, err = makeTarget(t, nil, "flash", "FIRMWARE_DIST="+flashDist)
	if err == nil || !strings.Contains(out, "make flash PI=user@host") {
		t.Errorf("make flash without PI: err %v, output:\n%s", err, out)
	}

}

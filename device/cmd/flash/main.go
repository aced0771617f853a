// Command flash installs the firmware on a Raspberry Pi over SSH and restarts it; it
// is what `make flash PI=user@host` runs. It uses the system's OpenSSH client, so the
// user's ~/.ssh/config, keys and agent apply, and needs nothing on the Pi but a POSIX
// shell (and sudo for a user other than root).
//
// Steps, each printed: ask the Pi its architecture; pick the matching binary from
// the dist folder (or check the one given, refusing one the Pi cannot run); check
// the config file; install the binary, the config, the token (if given, mode 0600)
// and the systemd unit, each written to a temporary name and renamed so a running
// service never sees half a file; restart the service.
package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/smartx-team/overcloud/device/config"
)

// Where things go on the Pi (under -root).
const (
	BinaryPath = "/usr/local/bin/smartx-firmware"
	ConfigPath = "/etc/smartx/firmware.conf"
	TokenPath  = "/etc/smartx/firmware.token"
	UnitPath   = "/etc/systemd/system/smartx-firmware.service"
	Service    = "smartx-firmware.service"
)

// DefaultRestart is run on the Pi when -restart is not given.
const DefaultRestart = "systemctl daemon-reload && systemctl enable " + Service + " && systemctl restart " + Service

//go:embed smartx-firmware.service
var unitTemplate string

type options struct {
	pi, dist, config, tokenFile, sshConfig, binary, root, restart string
	timeout                                                       time.Duration
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	var o options
	fs.StringVar(&o.pi, "pi", env("FLASH_PI", ""), "the Pi, as ssh takes it: user@host or a Host of the ssh config [FLASH_PI, make PI=]")
	fs.StringVar(&o.dist, "dist", "dist/firmware", "folder of the binaries make firmware built")
	fs.StringVar(&o.config, "config", env("FLASH_CONFIG", "device/firmware.conf"), "config file to install [FLASH_CONFIG, make CONFIG=]")
	fs.StringVar(&o.tokenFile, "token-file", env("FLASH_TOKEN_FILE", ""), "file with the device's hub token, installed 0600 [FLASH_TOKEN_FILE, make TOKEN_FILE=]")
	fs.StringVar(&o.sshConfig, "ssh-config", env("FLASH_SSH_CONFIG", ""), "ssh_config file to use instead of ~/.ssh/config [FLASH_SSH_CONFIG, make SSH_CONFIG=]")
	fs.StringVar(&o.binary, "binary", env("FLASH_BINARY", ""), "binary to install instead of the one matching the Pi [FLASH_BINARY, make BINARY=]")
	fs.StringVar(&o.root, "root", env("FLASH_ROOT", "/"), "directory on the Pi to install under [FLASH_ROOT, make PI_ROOT=]")
	fs.StringVar(&o.restart, "restart", env("FLASH_RESTART", ""), "command run on the Pi to restart the service (default: systemctl) [FLASH_RESTART, make RESTART=]")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "limit of the whole flash")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.pi == "" {
		fmt.Fprintln(stderr, "flash: say which Pi: make flash PI=user@host")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := flash(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "flash: %v\n", err)
		return 1
	}
	return 0
}

func flash(ctx context.Context, o options, out io.Writer) error {
	step := func(format string, a ...any) { fmt.Fprintf(out, "[flash] "+format+"\n", a...) }
	sh := &remote{pi: o.pi, sshConfig: o.sshConfig}

	step("checking config %s", o.config)
	if _, err := os.Stat(o.config); err != nil {
		return err
	}
	cfg, err := config.Parse([]string{"--config", o.config}, func(string) (string, bool) { return "", false }, io.Discard, config.Version{})
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config %s: %w", o.config, err)
	}
	var token []byte
	if o.tokenFile != "" {
		if token, err = os.ReadFile(o.tokenFile); err != nil {
			return fmt.Errorf("token file: %w", err)
		}
		if len(bytes.TrimSpace(token)) == 0 {
			return fmt.Errorf("token file %s is empty", o.tokenFile)
		}
	}

	step("asking %s what it is", o.pi)
	facts, err := sh.output(ctx, "uname -m; getconf LONG_BIT; id -u; command -v systemctl || echo none")
	if err != nil {
		return fmt.Errorf("reach %s: %w", o.pi, err)
	}
	pi, err := parseFacts(facts)
	if err != nil {
		return err
	}
	step("%s is %s (%d-bit user space): needs linux-%s", o.pi, pi.machine, pi.bits, pi.target)

	bin := o.binary
	if bin == "" {
		bin = filepath.Join(o.dist, "smartx-firmware-linux-"+pi.target)
	}
	binTarget, err := binaryTarget(bin)
	if err != nil {
		return err
	}
	if !runs(pi.target, binTarget) {
		return fmt.Errorf("refusing %s: it is built for linux-%s, the Pi runs linux-%s binaries", bin, binTarget, pi.target)
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	cfgData, err := os.ReadFile(o.config)
	if err != nil {
		return err
	}

	sudo := ""
	if pi.uid != 0 {
		sudo = "sudo -n "
	}
	root := path.Clean("/" + o.root)
	at := func(p string) string { return path.Join(root, p) }
	files := []file{
		{fmt.Sprintf("binary %s (linux-%s, %.1f MB)", filepath.Base(bin), binTarget, float64(len(binData))/1e6), at(BinaryPath), "0755", binData},
		{"config " + o.config, at(ConfigPath), "0644", cfgData},
	}
	if token != nil {
		files = append(files, file{"token", at(TokenPath), "0600", token})
	}
	files = append(files, file{"systemd unit " + Service, at(UnitPath), "0644", []byte(Unit(token != nil))})
	for _, f := range files {
		step("installing %s -> %s", f.what, f.dst)
		tmp := f.dst + ".new"
		cmd := fmt.Sprintf("%ssh -c %s", sudo, quote(fmt.Sprintf("umask 077 && mkdir -p %s && cat > %s && chmod %s %s && mv -f %s %s",
			quote(path.Dir(f.dst)), quote(tmp), f.mode, quote(tmp), quote(tmp), quote(f.dst))))
		if err := sh.run(ctx, cmd, bytes.NewReader(f.data)); err != nil {
			return fmt.Errorf("install %s: %w", f.dst, err)
		}
	}

	restart := o.restart
	if restart == "" {
		if !pi.systemd {
			return errors.New("files installed, but the Pi has no systemctl: give the command that restarts the firmware (make flash RESTART=...)")
		}
		restart = DefaultRestart
	}
	step("restarting: %s", restart)
	if err := sh.run(ctx, sudo+"sh -c "+quote(restart), nil); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	step("done: %s runs %s", o.pi, filepath.Base(bin))
	return nil
}

// file is one file to install.
type file struct {
	what, dst, mode string
	data            []byte
}

// Unit is the systemd unit; withToken adds the installed token file.
func Unit(withToken bool) string {
	args := "--config " + ConfigPath
	if withToken {
		args += " --token-file " + TokenPath
	}
	return strings.ReplaceAll(strings.ReplaceAll(unitTemplate, "{{binary}}", BinaryPath), "{{args}}", args)
}

// piFacts is what the Pi said about itself.
type piFacts struct {
	machine string // uname -m
	bits    int    // user space word size
	uid     int
	systemd bool
	target  string // the binary target it runs: armv6, armv7, arm64, amd64
}

func parseFacts(s string) (piFacts, error) {
	var f piFacts
	lines := strings.Fields(s)
	if len(lines) < 4 {
		return f, fmt.Errorf("unexpected answer from the Pi: %q", s)
	}
	f.machine = lines[0]
	if _, err := fmt.Sscan(lines[1], &f.bits); err != nil {
		return f, fmt.Errorf("getconf LONG_BIT said %q", lines[1])
	}
	if _, err := fmt.Sscan(lines[2], &f.uid); err != nil {
		return f, fmt.Errorf("id -u said %q", lines[2])
	}
	f.systemd = lines[3] != "none"
	var err error
	f.target, err = targetFor(f.machine, f.bits)
	return f, err
}

// targetFor maps uname -m and the user space's word size to a build target. A Pi 4
// running 32-bit Pi OS reports aarch64 (64-bit kernel) with 32-bit user space.
func targetFor(machine string, bits int) (string, error) {
	switch {
	case machine == "armv6l":
		return "armv6", nil
	case machine == "armv7l" || machine == "armv8l" || machine == "aarch64" && bits == 32:
		return "armv7", nil
	case machine == "aarch64" || machine == "arm64":
		return "arm64", nil
	case machine == "x86_64":
		return "amd64", nil
	}
	return "", fmt.Errorf("no firmware build for a %s (%d-bit) machine", machine, bits)
}

// binaryTarget reads the Go build settings of a binary: linux-arm with GOARM=6 is
// "armv6".
func binaryTarget(file string) (string, error) {
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s is not a firmware binary: %w", file, err)
	}
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	if set["GOOS"] != "linux" {
		return "", fmt.Errorf("%s is built for %s, not linux", file, set["GOOS"])
	}
	if set["GOARCH"] == "arm" {
		v := strings.SplitN(set["GOARM"], ",", 2)[0]
		if v == "" {
			v = "7" // Go's default GOARM when cross-compiling
		}
		return "armv" + v, nil
	}
	return set["GOARCH"], nil
}

// runs says whether a Pi that needs need can run a binary built for have: the same
// target, or ARMv6 code on an ARMv7 Pi.
func runs(need, have string) bool {
	return need == have || need == "armv7" && have == "armv6"
}

// quote makes s one word for a POSIX shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// remote runs commands on the Pi with the OpenSSH client. BatchMode: a missing key
// fails at once instead of prompting inside make.
type remote struct{ pi, sshConfig string }

func (r *remote) cmd(ctx context.Context, command string) *exec.Cmd {
	args := []string{"-o", "BatchMode=yes", "-o", "ConnectTimeout=15"}
	if r.sshConfig != "" {
		args = append([]string{"-F", r.sshConfig}, args...)
	}
	args = append(args, "--", r.pi, command)
	return exec.CommandContext(ctx, "ssh", args...)
}

func (r *remote) output(ctx context.Context, command string) (string, error) {
	c := r.cmd(ctx, command)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func (r *remote) run(ctx context.Context, command string, stdin io.Reader) error {
	c := r.cmd(ctx, command)
	c.Stdin = stdin
	var outErr bytes.Buffer
	c.Stdout, c.Stderr = &outErr, &outErr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(outErr.String()))
	}
	return nil
}

package servers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Postgres is a PostgreSQL 15 cluster of its own (initdb in Dir), listening on a free
// 127.0.0.1 port with password authentication, for EdgeX 4's services. PostgreSQL
// refuses to run as root: as root, the cluster runs as the postgres user Debian's
// package creates.
type Postgres struct {
	*Proc
	// Host and Port are where it listens; User and Password its superuser.
	Host     string
	Port     int
	User     string
	Password string
	// Dir holds the cluster and its sockets.
	Dir string

	bin  string
	cred *syscall.Credential
}

// NewPostgres makes a cluster in dir (created if needed) with superuser user and
// password, and returns it stopped; log receives its log (nil discards it). It fails if
// PostgreSQL's initdb and postgres are not installed (bash .ci/tools.sh postgres).
func NewPostgres(dir, pgUser, password string, log io.Writer) (*Postgres, error) {
	initdb, err := Tool("initdb")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	server, err := Tool("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// The binaries run as the postgres user, who cannot enter the tool cache in root's
	// home: run them where the links point.
	if initdb, err = filepath.EvalSymlinks(initdb); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if server, err = filepath.EvalSymlinks(server); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pg := &Postgres{Host: "127.0.0.1", Port: port, User: pgUser, Password: password, Dir: dir, bin: filepath.Dir(server)}
	if err := pg.initdb(initdb, log); err != nil {
		return nil, err
	}
	pg.Proc = NewProc("postgres", []string{server, "-D", filepath.Join(dir, "data"),
		"-h", pg.Host, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
	}, nil, pg.ready, log)
	pg.Proc.Credential = pg.cred
	return pg, nil
}

// initdb creates the cluster, as the postgres user when this process is root.
func (pg *Postgres) initdb(initdb string, log io.Writer) error {
	if err := os.MkdirAll(pg.Dir, 0o755); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("postgres: running as root needs the postgres user (bash .ci/tools.sh postgres): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(pg.Dir, uid, gid); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		// The postgres user must reach dir through the test's private temp folders.
		for d := filepath.Dir(pg.Dir); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(d, fi.Mode().Perm()|0o011)
			}
		}
	}
	pwfile := filepath.Join(pg.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if pg.cred != nil {
		_ = os.Chown(pwfile, int(pg.cred.Uid), int(pg.cred.Gid))
	}
	cmd := exec.Command(initdb, "-D", filepath.Join(pg.Dir, "data"), "-U", pg.User, "--pwfile", pwfile,
		"-A", "scram-sha-256", "-E", "UTF8", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	cmd.Dir = pg.Dir
	out, err := cmd.CombinedOutput()
	_ = os.Remove(pwfile)
	if log != nil {
		_, _ = log.Write(out)
	}
	if err != nil {
		return fmt.Errorf("postgres: initdb: %w\n%s", err, out)
	}
	return nil
}

// ready asks pg_isready, then makes sure a query works.
func (pg *Postgres) ready(ctx context.Context) error {
	return pg.run(ctx, "pg_isready", "-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pg.User, "-q")
}

// CreateDatabase creates the database name if it does not exist.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) error {
	err := pg.run(ctx, "createdb", "-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pg.User, name)
	var ee *exec.ExitError
	if errors.As(err, &ee) && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// run runs one of PostgreSQL's client programs against the cluster.
func (pg *Postgres) run(ctx context.Context, prog string, args ...string) error {
	bin := filepath.Join(pg.bin, prog)
	if !isExecutable(bin) {
		var err error
		if bin, err = exec.LookPath(prog); err != nil {
			return fmt.Errorf("postgres: %s: %w", prog, err)
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("postgres: %s: %w: %s", prog, err, strings.TrimSpace(string(out)))
	}
	return nil
}

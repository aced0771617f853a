// Package auth is the dashboard's login: the users and their bcrypt password hashes
// (read from a file, as a Kubernetes Secret is mounted), the sessions with their CSRF
// tokens and one-time form tokens, and the rate limit on login attempts.
package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Users are the people who may log in, by name. It is read-only after ParseUsers.
type Users struct {
	hashes map[string][]byte
	// dummy is checked against for an unknown name, so that a wrong name costs as
	// long as a wrong password and the timing does not tell which names exist.
	dummy []byte
}

// MaxUsersFile bounds the users file, which is outside input.
const MaxUsersFile = 1 << 20

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ParseUsers reads a users file: one "name:hash" per line, where hash is a bcrypt hash
// ($2a$, $2b$ or $2y$, as `htpasswd -B` writes it). Blank lines and lines starting with
// # are skipped. A malformed line is an error that names its line number and never
// shows the hash. At least one user is required.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{hashes: map[string][]byte{}}
	sc := bufio.NewScanner(io.LimitReader(r, MaxUsersFile+1))
	sc.Buffer(make([]byte, 4096), MaxUsersFile+1)
	line, size := 0, 0
	for sc.Scan() {
		line++
		size += len(sc.Bytes()) + 1
		if size > MaxUsersFile {
			return nil, fmt.Errorf("users file: larger than %d bytes", MaxUsersFile)
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, hash, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("users file line %d: want name:bcrypt-hash", line)
		}
		if !validName.MatchString(name) {
			return nil, fmt.Errorf("users file line %d: user name %q: want 1-64 letters, digits or ._@- (starting with a letter or digit)", line, name)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil || !strings.HasPrefix(hash, "$2") {
			return nil, fmt.Errorf("users file line %d: user %s: the password is not a bcrypt hash (make one with `htpasswd -nbB name password`)", line, name)
		}
		if _, dup := u.hashes[name]; dup {
			return nil, fmt.Errorf("users file line %d: user %s is listed twice", line, name)
		}
		u.hashes[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("users file: larger than %d bytes", MaxUsersFile)
		}
		return nil, fmt.Errorf("users file: %w", err)
	}
	if len(u.hashes) == 0 {
		return nil, errors.New("users file: no user in it")
	}
	// The dummy has the cost of a real hash, so an unknown name takes as long.
	var cost int
	for _, h := range u.hashes {
		cost, _ = bcrypt.Cost(h)
		break
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	if err != nil {
		return nil, err
	}
	u.dummy = dummy
	return u, nil
}

// Check reports whether password is name's.
func (u *Users) Check(name, password string) bool {
	h, ok := u.hashes[name]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

// Names are the users' names, sorted.
func (u *Users) Names() []string {
	out := make([]string, 0, len(u.hashes))
	for n := range u.hashes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Line returns a users-file line for name with password hashed by bcrypt at its
// default cost, for the demo and for operators without htpasswd.
func Line(name, password string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("user name %q: want 1-64 letters, digits or ._@-", name)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return name + ":" + string(h), nil
}

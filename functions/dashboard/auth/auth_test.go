package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hashOf makes a cheap hash, so the tests stay fast; cost does not change the rules.
func hashOf(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsers(t *testing.T) {
	kim := hashOf(t, "s3cret")
	lee := strings.Replace(hashOf(t, "other"), "$2a$", "$2y$", 1) // as htpasswd -B writes it
	tests := []struct {
		name    string
		file    string
		want    []string
		wantErr string
	}{
		{name: "two users, comments and blanks", file: "# operators\nkim:" + kim + "\n\n  lee:" + lee + "  \n", want: []string{"kim", "lee"}},
		{name: "empty", file: "# nobody\n", wantErr: "no user"},
		{name: "no colon", file: "kim " + kim + "\n", wantErr: "line 1: want name:bcrypt-hash"},
		{name: "plain password", file: "kim:s3cret\n", wantErr: "line 1: user kim: the password is not a bcrypt hash"},
		{name: "bad name", file: "ki m:" + kim + "\n", wantErr: `line 1: user name "ki m"`},
		{name: "duplicate", file: "kim:" + kim + "\nkim:" + kim + "\n", wantErr: "line 2: user kim is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUsers(strings.NewReader(tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseUsers = %v, want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "$2") || strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(u.Names(), ","); got != strings.Join(tt.want, ",") {
				t.Errorf("users %s, want %v", got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	u, err := ParseUsers(strings.NewReader("kim:" + hashOf(t, "s3cret") + "\nlee:" + strings.Replace(hashOf(t, "other"), "$2a$", "$2y$", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, pw string
		ok       bool
	}{{"kim", "s3cret", true}, {"kim", "S3cret", false}, {"kim", "", false}, {"lee", "other", true}, {"nobody", "s3cret", false}} {
		if got := u.Check(tt.name, tt.pw); got != tt.ok {
			t.Errorf("Check(%q, %q) = %v, want %v", tt.name, tt.pw, got, tt.ok)
		}
	}
}

func TestLine(t *testing.T) {
	line, err := Line("demo", "pw")
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUsers(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Check("demo", "pw") {
		t.Error("the line's password does not check")
	}
	if _, err := Line("bad name", "pw"); err == nil {
		t.Error("Line took a bad name")
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add("kim:" + hashOf(f, "x") + "\n")
	f.Add("# c\n\nkim\n")
	f.Add("a:$2a$\n")
	f.Fuzz(func(t *testing.T, file string) {
		u, err := ParseUsers(strings.NewReader(file))
		if err != nil {
			if u != nil {
				t.Fatal("users and an error")
			}
			return
		}
		if len(u.Names()) == 0 {
			t.Fatal("no users and no error")
		}
	})
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)} }
func storeAt(c *clock, ttl, idle time.Duration) *Store {
	s := NewStore(ttl, idle)
	s.now = c.now
	return s
}

func TestSessionLifetime(t *testing.T) {
	c := newClock()
	s := storeAt(c, 12*time.Hour, time.Hour)
	a := s.New("kim")
	if got, ok := s.Get(a.ID); !ok || got.User != "kim" {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	c.add(59 * time.Minute)
	if _, ok := s.Get(a.ID); !ok {
		t.Fatal("session ended before its idle time")
	}
	c.add(61 * time.Minute)
	if _, ok := s.Get(a.ID); ok {
		t.Fatal("session lived past its idle time")
	}
	b := s.New("lee")
	for range 14 {
		c.add(55 * time.Minute)
		s.Get(b.ID)
	}
	if _, ok := s.Get(b.ID); ok {
		t.Fatal("session lived past its ttl")
	}
	d := s.New("kim")
	s.Delete(d.ID)
	if _, ok := s.Get(d.ID); ok {
		t.Fatal("session lived past logout")
	}
	if _, ok := s.Get("made-up"); ok {
		t.Fatal("a made-up id is a session")
	}
}

func TestCSRF(t *testing.T) {
	s := NewStore(time.Hour, time.Hour)
	a, b := s.New("kim"), s.New("lee")
	for _, tt := range []struct {
		id, token string
		ok        bool
	}{{a.ID, a.CSRF, true}, {a.ID, b.CSRF, false}, {a.ID, "", false}, {"nope", a.CSRF, false}} {
		if got := s.CheckCSRF(tt.id, tt.token); got != tt.ok {
			t.Errorf("CheckCSRF(%q, %q) = %v, want %v", tt.id, tt.token, got, tt.ok)
		}
	}
}

func TestFormsActOnce(t *testing.T) {
	c := newClock()
	s := storeAt(c, 12*time.Hour, 12*time.Hour)
	a, b := s.New("kim"), s.New("lee")
	f := s.IssueForm(a.ID)
	if err := s.UseForm(b.ID, f); !errors.Is(err, ErrFormUnknown) {
		t.Errorf("another session's form: %v, want ErrFormUnknown", err)
	}
	if err := s.UseForm(a.ID, f); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := s.UseForm(a.ID, f); !errors.Is(err, ErrFormReplayed) {
		t.Errorf("second use: %v, want ErrFormReplayed", err)
	}
	if err := s.UseForm(a.ID, "made-up"); !errors.Is(err, ErrFormUnknown) {
		t.Errorf("made-up form: %v, want ErrFormUnknown", err)
	}
	old := s.IssueForm(a.ID)
	c.add(formTTL + time.Second)
	if err := s.UseForm(a.ID, old); !errors.Is(err, ErrFormUnknown) {
		t.Errorf("expired form: %v, want ErrFormUnknown", err)
	}
	// The oldest forms make room for new ones, and the newest stay good.
	var last string
	for range maxForms + 10 {
		last = s.IssueForm(a.ID)
	}
	if err := s.UseForm(a.ID, last); err != nil {
		t.Errorf("newest form after many: %v", err)
	}
	if s.IssueForm("nope") != "" {
		t.Error("a form for no session")
	}
}

func TestLimiter(t *testing.T) {
	c := newClock()
	l := NewLimiter(3, 10*time.Second)
	l.now = c.now
	for i := range 3 {
		if ok, _ := l.Allow("ip:1", "user:kim"); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, wait := l.Allow("ip:1", "user:kim")
	if ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("4th attempt: %v, wait %s; want refused with a wait up to 10s", ok, wait)
	}
	// The user is limited from another address too, and another user from the first
	// address.
	if ok, _ := l.Allow("ip:2", "user:kim"); ok {
		t.Error("kim from another address was let through")
	}
	if ok, _ := l.Allow("ip:1", "user:lee"); ok {
		t.Error("another user from the limited address was let through")
	}
	// A refused attempt takes nothing from the other key.
	if ok, _ := l.Allow("ip:3", "user:lee"); !ok {
		t.Error("lee from a fresh address was refused")
	}
	c.add(10 * time.Second)
	if ok, _ := l.Allow("ip:1", "user:kim"); !ok {
		t.Error("no attempt after the wait")
	}
}

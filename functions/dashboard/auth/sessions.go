package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Session is a logged-in user. Its fields are read-only copies; the Store holds the
// state.
type Session struct {
	ID   string
	User string
	// CSRF is sent back with every change, in the form or the X-CSRF-Token header.
	CSRF    string
	Created time.Time
}

// Errors of UseForm, each a reason a change is refused.
var (
	ErrFormReplayed = errors.New("this form was already sent once; reload the page and try again")
	ErrFormUnknown  = errors.New("this form has expired; reload the page and try again")
)

// Store keeps sessions in memory: a restart logs everyone out, which is the safe
// side for a control panel. It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	sessions map[string]*entry
	ttl      time.Duration
	idle     time.Duration
	now      func() time.Time
}

type entry struct {
	Session
	seen time.Time
	// forms are the one-time form tokens issued and not yet used, with when they were
	// issued; used remembers those already spent, to tell a replay from an old form.
	forms map[string]time.Time
	used  map[string]time.Time
}

// Bounds of the one-time form tokens each session keeps.
const (
	maxForms = 512
	formTTL  = 30 * time.Minute
)

// NewStore returns a store whose sessions end ttl after login or idle after their last
// use, whichever comes first.
func NewStore(ttl, idle time.Duration) *Store {
	return &Store{sessions: map[string]*entry{}, ttl: ttl, idle: idle, now: time.Now}
}

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// New starts a session for user.
func (s *Store) New(user string) Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	e := &entry{Session: Session{ID: token(), User: user, CSRF: token(), Created: now}, seen: now,
		forms: map[string]time.Time{}, used: map[string]time.Time{}}
	s.sessions[e.ID] = e
	return e.Session
}

// Get returns the live session id, and marks it used.
func (s *Store) Get(id string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	if !ok {
		return Session{}, false
	}
	e.seen = s.now()
	return e.Session, true
}

func (s *Store) live(id string) (*entry, bool) {
	e, ok := s.sessions[id]
	if !ok {
		return nil, false
	}
	now := s.now()
	if now.Sub(e.Created) > s.ttl || now.Sub(e.seen) > s.idle {
		delete(s.sessions, id)
		return nil, false
	}
	return e, true
}

// sweep drops ended sessions; called on each login, so the map cannot grow without end.
func (s *Store) sweep(now time.Time) {
	for id, e := range s.sessions {
		if now.Sub(e.Created) > s.ttl || now.Sub(e.seen) > s.idle {
			delete(s.sessions, id)
		}
	}
}

// Delete ends session id (logout).
func (s *Store) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
}

// Len is the number of sessions held, live or not yet swept.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// CheckCSRF reports whether got is session id's CSRF token, in constant time.
func (s *Store) CheckCSRF(id, got string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	return ok && got != "" && subtle.ConstantTimeCompare([]byte(e.CSRF), []byte(got)) == 1
}

// IssueForm returns a one-time token for a form of session id ("" if the session has
// ended). A change is carried out only with a token not used before, so a form sent
// twice (a double click, a replayed request) acts once.
func (s *Store) IssueForm(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	if !ok {
		return ""
	}
	now := s.now()
	prune(e.forms, now)
	prune(e.used, now)
	if len(e.forms) >= maxForms {
		oldest, at := "", now
		for t, issued := range e.forms {
			if issued.Before(at) || oldest == "" {
				oldest, at = t, issued
			}
		}
		delete(e.forms, oldest)
	}
	t := token()
	e.forms[t] = now
	return t
}

func prune(m map[string]time.Time, now time.Time) {
	for t, at := range m {
		if now.Sub(at) > formTTL {
			delete(m, t)
		}
	}
}

// UseForm spends a form token of session id: ErrFormReplayed if it was spent already,
// ErrFormUnknown if it was never issued or has expired.
func (s *Store) UseForm(id, form string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(id)
	if !ok {
		return ErrFormUnknown
	}
	now := s.now()
	if _, spent := e.used[form]; spent {
		return ErrFormReplayed
	}
	issued, ok := e.forms[form]
	if !ok || now.Sub(issued) > formTTL {
		delete(e.forms, form)
		return ErrFormUnknown
	}
	delete(e.forms, form)
	if len(e.used) >= maxForms {
		prune(e.used, now)
	}
	if len(e.used) < maxForms {
		e.used[form] = now
	}
	return nil
}

// Token returns a new random token (32 bytes, URL-safe base64).
func Token() string { return token() }

// Equal compares two tokens in constant time; an empty one never matches.
func Equal(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

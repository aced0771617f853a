package edgexrest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/smartx-team/overcloud/functions/reading"
)

// maxTokensFile bounds the tokens file; thousands of devices fit in far less.
const maxTokensFile = 4 << 20

// Tokens holds each device's bearer token as a SHA-256 digest, so comparisons take
// the same time whatever the token's length and no token stays in memory in clear.
type Tokens struct {
	digests map[string][sha256.Size]byte
}

// ParseTokens parses a tokens file: one JSON object mapping device names to tokens,
// {"pi-1": "s3cret", ...}. Names must be valid reading device names, tokens non-empty
// strings without surrounding space; a name given twice is an error. Errors name the
// device, never a token.
func ParseTokens(b []byte) (*Tokens, error) {
	if len(b) > maxTokensFile {
		return nil, fmt.Errorf("tokens file: %d bytes, limit %d", len(b), maxTokensFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New(`tokens file: want a JSON object {"device": "token", ...}`)
	}
	t := &Tokens{digests: map[string][sha256.Size]byte{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("tokens file: malformed JSON")
		}
		name, _ := tok.(string)
		if err := checkDeviceName(name); err != nil {
			return nil, fmt.Errorf("tokens file: device %q: %w", clipName(name), err)
		}
		if _, dup := t.digests[name]; dup {
			return nil, fmt.Errorf("tokens file: device %q given twice", name)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("tokens file: device %q: malformed JSON", name)
		}
		token, ok := tok.(string)
		if !ok || token == "" || strings.TrimSpace(token) != token || !utf8.ValidString(token) {
			return nil, fmt.Errorf("tokens file: device %q: the token must be a non-empty string without surrounding space", name)
		}
		t.digests[name] = sha256.Sum256([]byte(token))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errors.New("tokens file: malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("tokens file: trailing data after the object")
	}
	return t, nil
}

func checkDeviceName(name string) error {
	r := reading.Reading{ID: "x", Device: name, Resource: "x", Origin: 1, Seq: 1}
	if err := r.Validate(); err != nil {
		return errors.New("not a valid device name")
	}
	return nil
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Len is the number of devices with a token.
func (t *Tokens) Len() int { return len(t.digests) }

// authResult is the outcome of a token check.
type authResult int

const (
	authOK        authResult = iota
	authMissing              // no or malformed Authorization header
	authWrong                // token does not match the device's
	authNoSuchDev            // device has no token here
)

// check compares the bearer token of an Authorization header with device's.
func (t *Tokens) check(device, header string) authResult {
	want, known := t.digests[device]
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		if !known {
			return authNoSuchDev
		}
		return authMissing
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if !known {
		return authNoSuchDev
	}
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return authWrong
	}
	return authOK
}

// TokenFile is a tokens file re-read when it changes, as a Kubernetes Secret mounted as
// a volume is updated in place. Get is safe for concurrent use.
type TokenFile struct {
	path string
	log  *slog.Logger
	cur  atomic.Pointer[Tokens]
	last []byte
	// rounds counts finished re-reads, so a test can wait for some to pass.
	rounds atomic.Int64
}

// LoadTokenFile reads and parses path; an error at start is fatal for the caller.
func LoadTokenFile(path string, log *slog.Logger) (*TokenFile, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &TokenFile{path: path, log: log}
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseTokens(b)
	if err != nil {
		return nil, err
	}
	f.cur.Store(t)
	f.last = b
	return f, nil
}

func readLimited(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxTokensFile+1))
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	return b, nil
}

// Get returns the current tokens.
func (f *TokenFile) Get() *Tokens { return f.cur.Load() }

// Run re-reads the file every interval until ctx ends; a file that no longer parses
// is logged and the previous tokens stay in force.
func (f *TokenFile) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f.reload()
		f.rounds.Add(1)
	}
}

// reload re-reads the file and takes its tokens if they changed and parse.
func (f *TokenFile) reload() {
	b, err := readLimited(f.path)
	if err != nil {
		f.log.Warn("re-read device tokens; keeping the previous ones", "err", err)
		return
	}
	if bytes.Equal(b, f.last) {
		return
	}
	tok, err := ParseTokens(b)
	if err != nil {
		f.log.Warn("device tokens file changed but does not parse; keeping the previous ones", "err", err)
		return
	}
	f.cur.Store(tok)
	f.last = b
	f.log.Info("device tokens reloaded", "devices", tok.Len())
}

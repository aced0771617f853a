package weather

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds a weather response; real ones are under 1 KiB.
const maxBody = 64 << 10

// defaultClient is used when a provider is given no client; the timeout keeps a hung
// service from holding a fetch forever even if the caller forgot a deadline.
var defaultClient = &http.Client{Timeout: 10 * time.Second}

// parseBase checks a provider's base URL (scheme and host, optional path prefix).
func parseBase(base string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base url %q: want http(s)://host[:port]", base)
	}
	if u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("base url %q: no query or credentials allowed", base)
	}
	return u, nil
}

// get fetches u and returns the body and status. secret, if not empty, is replaced
// everywhere in a returned error: the net/http errors quote the whole URL, query
// (and so the API key) included.
func get(ctx context.Context, client *http.Client, u *url.URL, secret string) ([]byte, int, error) {
	redact := func(err error) error { return redactErr(err, secret) }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, redact(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, redact(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, resp.StatusCode, redact(fmt.Errorf("read response: %w", err))
	}
	if len(body) > maxBody {
		return nil, resp.StatusCode, fmt.Errorf("%w: response longer than %d bytes", ErrBadResponse, maxBody)
	}
	return body, resp.StatusCode, nil
}

// redactErr hides secret in err's text. A *url.Error (what http.Client.Do returns)
// keeps its type and its cause, so errors.Is still sees context.DeadlineExceeded.
func redactErr(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = strings.ReplaceAll(c.URL, url.QueryEscape(secret), "xxxxx")
		c.URL = strings.ReplaceAll(c.URL, secret, "xxxxx")
		if !strings.Contains(c.Err.Error(), secret) {
			return &c
		}
	}
	if !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), secret, "xxxxx"), err: err}
}

// redacted is an error whose text had a secret removed. It answers errors.Is like the
// original but does not unwrap to it, so no link of the chain can print the secret.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }

// Is lets errors.Is(err, context.DeadlineExceeded) and the like see the original.
func (r *redacted) Is(target error) bool { return errors.Is(r.err, target) }

// clip shortens a service's message for an error text.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

package edgex

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter is the longest Retry-After a device honours: a hub that asks for
// more, by mistake or misconfiguration, must not park a Pi for days while its queue
// fills and drops readings.
const MaxRetryAfter = 10 * time.Minute

// ParseRetryAfter reads a Retry-After header value (RFC 9110, section 10.2.3) as of
// now: delay-seconds or an HTTP-date. It returns 0 for an empty or malformed value
// and for a date that is not after now, and at most MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.Trim(v, " \t") // optional whitespace around a field value
	if v == "" {
		return 0
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		// All digits, so the only error is overflow: a very long delay.
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}

// isDigits is delay-seconds' grammar, 1*DIGIT: no sign, no fraction, no spaces.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// RetryAfter is how long the hub asked to wait before the next request, in err's
// chain: the RetryAfter of a *StatusError, 0 if there is none.
func RetryAfter(err error) time.Duration {
	var se *StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

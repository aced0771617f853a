package edgex

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"007", 7 * time.Second},
		{"600", MaxRetryAfter},
		{"601", MaxRetryAfter},
		{"86400", MaxRetryAfter},
		{"99999999999999999999999", MaxRetryAfter}, // overflows uint64: still a long delay
		{"-1", 0},
		{"+5", 0},
		{"1.5", 0},
		{"5s", 0},
		{"1 2", 0},
		{"0x10", 0},
		{"soon", 0},
		{date(90 * time.Second), 90 * time.Second},
		{date(0), 0},
		{date(-time.Hour), 0},
		{date(48 * time.Hour), MaxRetryAfter},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second},
		{now.Add(45 * time.Second).Format(time.ANSIC), 45 * time.Second},
		{"Tue, 01 Dec 2026 10:00:90 GMT", 0}, // not a date
		{"Tue, 01 Dec 2026 10:01:00 CET", 0}, // HTTP-dates are GMT only
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, s := range []string{"3", "0", "600", "601", "-1", "1e3", "18446744073709551616", " 7 ",
		now.Add(time.Minute).Format(http.TimeFormat), now.Add(-time.Minute).Format(time.RFC850),
		now.Add(time.Hour).Format(time.ANSIC), "Mon, 02 Jan 2006 15:04:05 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseRetryAfter(s, now)
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, %v]", s, d, MaxRetryAfter)
		}
		// Only the two forms RFC 9110 allows may ask for a wait, and each means what
		// it says, up to the cap.
		v := strings.Trim(s, " \t")
		if v != "" && strings.Trim(v, "0123456789") == "" {
			want := MaxRetryAfter
			if n, err := strconv.ParseUint(v, 10, 64); err == nil && n < uint64(MaxRetryAfter/time.Second) {
				want = time.Duration(n) * time.Second
			}
			if d != want {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %v", s, d, want)
			}
			return
		}
		date, err := http.ParseTime(v)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseRetryAfter(%q) = %v for neither delay-seconds nor an HTTP-date", s, d)
			}
			return
		}
		if until := date.Sub(now); (until <= 0 && d != 0) || (until > 0 && d != min(until, MaxRetryAfter)) {
			t.Fatalf("ParseRetryAfter(%q) = %v for a date %v from now", s, d, until)
		}
	})
}

// TestSendCarriesRetryAfter: a hub shedding load answers 503 or 429 with
// Retry-After; Send's error carries the wait, in either form.
func TestSendCarriesRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		header   func() string
		min, max time.Duration
	}{
		{"seconds", http.StatusServiceUnavailable, func() string { return "3" }, 3 * time.Second, 3 * time.Second},
		{"429", http.StatusTooManyRequests, func() string { return "7" }, 7 * time.Second, 7 * time.Second},
		// An HTTP-date has whole seconds and the clock runs on: allow for both.
		{"date", http.StatusServiceUnavailable, func() string { return time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat) }, 100 * time.Second, 2 * time.Minute},
		{"date far ahead", http.StatusServiceUnavailable, func() string { return time.Now().Add(72 * time.Hour).UTC().Format(http.TimeFormat) }, MaxRetryAfter, MaxRetryAfter},
		{"date past", http.StatusServiceUnavailable, func() string { return time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat) }, 0, 0},
		{"malformed", http.StatusServiceUnavailable, func() string { return "later" }, 0, 0},
		{"absent", http.StatusServiceUnavailable, func() string { return "" }, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if v := tc.header(); v != "" {
					w.Header().Set("Retry-After", v)
				}
				http.Error(w, "overloaded", tc.code)
			}))
			defer srv.Close()
			err := client(t, srv.URL, "pi-1", "").Send(context.Background(), event("pi-1", 1, ResCPU))
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v, want a *StatusError", err)
			}
			if se.Code != tc.code || se.RetryAfter < tc.min || se.RetryAfter > tc.max {
				t.Errorf("StatusError code %d, RetryAfter %v; want %d, %v..%v", se.Code, se.RetryAfter, tc.code, tc.min, tc.max)
			}
			// The firmware sees the error wrapped.
			if got := RetryAfter(fmt.Errorf("deliver: %w", err)); got != se.RetryAfter {
				t.Errorf("RetryAfter(wrapped) = %v, want %v", got, se.RetryAfter)
			}
			for _, e := range []error{ErrRejected, ErrUnauthorized, ErrNotRegistered} {
				if errors.Is(err, e) {
					t.Errorf("%d is %v; it is a transient answer", tc.code, e)
				}
			}
		})
	}
}

// TestRegisterCarriesRetryAfter: registration meets the same overloaded hub.
func TestRegisterCarriesRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if got := RetryAfter(client(t, srv.URL, "pi-1", "").Register(context.Background())); got != 5*time.Second {
		t.Errorf("RetryAfter(Register) = %v, want 5s", got)
	}
}

func TestRetryAfterWithoutStatusError(t *testing.T) {
	if got := RetryAfter(nil); got != 0 {
		t.Errorf("RetryAfter(nil) = %v", got)
	}
	if got := RetryAfter(errors.New("connection refused")); got != 0 {
		t.Errorf("RetryAfter(plain error) = %v", got)
	}
}

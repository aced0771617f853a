package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/smartx-team/overcloud/functions/controller/audit"
	"github.com/smartx-team/overcloud/functions/controller/coreclient"
)

// Bounds of the text an operator gives.
const (
	MaxUser   = 64
	MaxReason = 256
)

// ManualRequest is the body of POST /api/v1/devices/{device}/setpoint.
type ManualRequest struct {
	// Setpoint in C (required; the controller checks whole degrees and bounds).
	Setpoint float64
	// User is who asks (required), Reason why (optional).
	User, Reason string
	// Duration of the override (0: the controller's default).
	Duration time.Duration
}

// ParseManual reads a manual set-point request: a JSON object with setpoint (a number)
// and user, optionally reason and duration (a Go duration such as "90m" or "2h"), and
// nothing else.
func ParseManual(b []byte) (ManualRequest, error) {
	var raw struct {
		Setpoint *float64 `json:"setpoint"`
		User     string   `json:"user"`
		Reason   string   `json:"reason"`
		Duration *string  `json:"duration"`
	}
	if err := strict(b, &raw); err != nil {
		return ManualRequest{}, err
	}
	if raw.Setpoint == nil {
		return ManualRequest{}, errors.New(`"setpoint" is required`)
	}
	sp := *raw.Setpoint
	if math.IsNaN(sp) || math.IsInf(sp, 0) {
		return ManualRequest{}, fmt.Errorf(`"setpoint" %v is not a number`, sp)
	}
	user, err := checkText("user", raw.User, MaxUser, true)
	if err != nil {
		return ManualRequest{}, err
	}
	reason, err := checkText("reason", raw.Reason, MaxReason, false)
	if err != nil {
		return ManualRequest{}, err
	}
	m := ManualRequest{Setpoint: sp, User: user, Reason: reason}
	if raw.Duration != nil {
		d, err := time.ParseDuration(strings.TrimSpace(*raw.Duration))
		if err != nil || d <= 0 {
			return ManualRequest{}, fmt.Errorf(`"duration" %q: want a positive duration such as "90m" or "2h"`, trunc(*raw.Duration))
		}
		m.Duration = d
	}
	return m, nil
}

// CancelRequest says who cancels an override and why.
type CancelRequest struct {
	User, Reason string
}

// ParseCancel reads a cancel request's JSON body: user (required) and reason.
func ParseCancel(b []byte) (CancelRequest, error) {
	var raw struct {
		User   string `json:"user"`
		Reason string `json:"reason"`
	}
	if err := strict(b, &raw); err != nil {
		return CancelRequest{}, err
	}
	return checkCancel(CancelRequest{User: raw.User, Reason: raw.Reason})
}

func checkCancel(c CancelRequest) (CancelRequest, error) {
	var err error
	if c.User, err = checkText("user", c.User, MaxUser, true); err != nil {
		return CancelRequest{}, err
	}
	if c.Reason, err = checkText("reason", c.Reason, MaxReason, false); err != nil {
		return CancelRequest{}, err
	}
	return c, nil
}

// ParseAuditQuery reads GET /api/v1/audit's parameters: device (an EdgeX name), since
// (RFC 3339, or a duration back from now such as "24h") and limit (1 to
// audit.MaxLimit, default audit.DefaultLimit). Other parameters are refused.
func ParseAuditQuery(v url.Values, now time.Time) (audit.Query, error) {
	var q audit.Query
	for k, vals := range v {
		switch k {
		case "device", "since", "limit":
			if len(vals) > 1 {
				return audit.Query{}, fmt.Errorf("%q given %d times", k, len(vals))
			}
		default:
			return audit.Query{}, fmt.Errorf("unknown parameter %q (want device, since, limit)", trunc(k))
		}
	}
	if d := v.Get("device"); d != "" {
		if err := coreclient.CheckDevice(d); err != nil {
			return audit.Query{}, err
		}
		q.Device = d
	}
	if s := v.Get("since"); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			q.Since = t
		} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
			q.Since = now.Add(-d)
		} else {
			return audit.Query{}, fmt.Errorf(`"since" %q: want RFC 3339 (2026-11-21T10:00:00Z) or a duration back from now (24h)`, trunc(s))
		}
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return audit.Query{}, fmt.Errorf(`"limit" %q: want 1 to %d`, trunc(l), audit.MaxLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// strict decodes one JSON object into v: no unknown fields, nothing after it.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("want a JSON object of the documented fields: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// checkText trims s and checks it: valid UTF-8, printable, at most max bytes, and not
// empty when required.
func checkText(name, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		return "", fmt.Errorf("%q is required", name)
	case len(s) > max:
		return "", fmt.Errorf("%q is over %d bytes", name, max)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("%q is not UTF-8", name)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("%q holds a control character", name)
		}
	}
	return s, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

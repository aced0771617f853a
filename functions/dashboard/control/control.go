// Package control is the dashboard's client of the controller's HTTP API: its state
// (limits, each air conditioner's set-points, mode and override), manual set-points
// and their cancel, and the audit trail. See functions/controller/README.md for the
// API; this package reads only the fields the dashboard shows.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options say where the controller is; URL is required.
type Options struct {
	URL string
	// Token is the controller's API token (POST and DELETE), if it has one.
	Token string
	// Timeout bounds one request (default 10s). A manual set-point may wait for the
	// controller's decision in progress: give it the controller's interval and more.
	Timeout time.Duration
}

// Client talks to one controller. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("control: controller URL %q: want http(s)://host:port", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &Client{base: strings.TrimRight(o.URL, "/"), token: o.Token, http: &http.Client{Timeout: o.Timeout}}, nil
}

// Limits are the controller's.
type Limits struct {
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	TempLimit float64 `json:"temp_limit"`
	Ceiling   float64 `json:"ceiling"`
	RHMin     float64 `json:"rh_min"`
	RHMax     float64 `json:"rh_max"`
}

// Override is a manual set-point in force.
type Override struct {
	Setpoint float64   `json:"setpoint"`
	User     string    `json:"user"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
}

// Decision is the controller's last decision for a device.
type Decision struct {
	Time    time.Time `json:"time"`
	Outcome string    `json:"outcome"`
	Why     string    `json:"why"`
}

// Device is one air conditioner as the controller sees it.
type Device struct {
	Device      string    `json:"device"`
	Location    string    `json:"location"`
	Mode        string    `json:"mode"`
	Automation  string    `json:"automation"`
	Current     *float64  `json:"current_setpoint"`
	Recommended *float64  `json:"recommended_setpoint"`
	StaleSensor bool      `json:"stale_sensor"`
	Override    *Override `json:"override"`
	Fallback    string    `json:"fallback_reason"`
	Decision    *Decision `json:"last_decision"`
	Errors      []string  `json:"errors"`
}

// Model is the model the controller asks.
type Model struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Error   string `json:"error"`
}

// State is the controller's GET /api/v1/state.
type State struct {
	Time    time.Time `json:"time"`
	Ready   bool      `json:"ready"`
	DryRun  bool      `json:"dry_run"`
	Limits  Limits    `json:"limits"`
	Model   *Model    `json:"model"`
	Devices []Device  `json:"devices"`
}

// Find returns the named device.
func (s State) Find(device string) (Device, bool) {
	for _, d := range s.Devices {
		if d.Device == device {
			return d, true
		}
	}
	return Device{}, false
}

// Entry is one line of the audit trail.
type Entry struct {
	Time    time.Time  `json:"time"`
	Device  string     `json:"device"`
	Actor   string     `json:"actor"`
	Action  string     `json:"action"`
	Old     *float64   `json:"old"`
	New     *float64   `json:"new"`
	Reason  string     `json:"reason"`
	Until   *time.Time `json:"until"`
	Applied bool       `json:"applied"`
	Error   string     `json:"error"`
	DryRun  bool       `json:"dry_run"`
}

// Error is an answer of the controller that is not a success: its status and message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("controller: HTTP %d: %s", e.Status, e.Message)
}

// Status returns the HTTP status of a controller's refusal, or 0 for another error
// (the controller unreachable).
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" && method != http.MethodGet {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("controller: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("controller: %s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// State returns the controller's state.
func (c *Client) State(ctx context.Context) (State, error) {
	var s State
	err := c.do(ctx, http.MethodGet, "/api/v1/state", nil, &s)
	return s, err
}

// Manual is a manual set-point request.
type Manual struct {
	Setpoint float64
	User     string
	Reason   string
	// Duration of the override; 0 takes the controller's default.
	Duration time.Duration
}

// Set applies a manual set-point to device, as user.
func (c *Client) Set(ctx context.Context, device string, m Manual) error {
	body := map[string]any{"setpoint": m.Setpoint, "user": m.User, "reason": m.Reason}
	if m.Duration > 0 {
		body["duration"] = m.Duration.String()
	}
	return c.do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(device)+"/setpoint", body, nil)
}

// Cancel ends device's override, as user.
func (c *Client) Cancel(ctx context.Context, device, user, reason string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/devices/"+url.PathEscape(device)+"/override",
		map[string]string{"user": user, "reason": reason}, nil)
}

// Audit returns the newest limit entries of the audit trail, of device ("" for all).
func (c *Client) Audit(ctx context.Context, device string, limit int) ([]Entry, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if device != "" {
		q.Set("device", device)
	}
	var out struct {
		Entries []Entry `json:"entries"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/audit?"+q.Encode(), nil, &out)
	return out.Entries, err
}

// Package coreclient applies set-points through EdgeX core-command's REST API:
//
//	PUT {url}/api/v3/device/name/{device}/setpoint   {"setpoint": "23"}
//
// In EdgeX mode url is core-command itself (which forwards to the Pi's device service);
// in standalone mode the hub serves the same endpoint, so the controller is the same in
// both. The value is sent in whole degrees, as a string, as EdgeX carries values; the Pi
// rounds to whole degrees anyway and refuses what is outside its own bounds (400).
package coreclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	dtoCommon "github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/common"
)

// Command and resource of the set-point, as the Pi's device profile names them.
const (
	Command  = "setpoint"
	Resource = "setpoint"
)

// Errors a caller branches on.
var (
	// ErrUnknownDevice: core-command knows no such device or command (404).
	ErrUnknownDevice = errors.New("core-command: unknown device")
	// ErrRefused: the command was refused (4xx: out of the device's bounds, locked, ...).
	ErrRefused = errors.New("core-command: set-point refused")
	// ErrUnavailable: no answer, or a 5xx (core-command or the device service is down).
	ErrUnavailable = errors.New("core-command: unavailable")
)

// Options configure a Client.
type Options struct {
	// URL is core-command's base URL, e.g. http://edgex-core-command:59882 (required).
	URL string
	// Token, if set, is sent as "Authorization: Bearer <token>" (EdgeX in secure mode,
	// or a hub with device tokens).
	Token string
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// HTTPClient (default: a client of its own with Timeout).
	HTTPClient *http.Client
}

// Client sends set commands. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New checks the options; it does not connect.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("coreclient: URL %q: want http(s)://host[:port]", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	return &Client{base: u, token: o.Token, http: hc}, nil
}

// deviceName is EdgeX's rule for names (letters, digits and -_~:;=.), which also keeps
// them safe in a path.
var deviceName = regexp.MustCompile(`^[a-zA-Z0-9\-_~:;=.]{1,128}$`)

// CheckDevice checks a device name by EdgeX's rule.
func CheckDevice(name string) error {
	if !deviceName.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("device name %q: want 1 to 128 letters, digits or any of -_~:;=. (EdgeX names)", name)
	}
	return nil
}

// Body is the set command's body for a set-point, in whole degrees.
func Body(celsius float64) ([]byte, error) {
	if math.IsNaN(celsius) || math.IsInf(celsius, 0) {
		return nil, fmt.Errorf("coreclient: set-point %v", celsius)
	}
	return json.Marshal(map[string]string{Resource: strconv.FormatFloat(math.Round(celsius), 'f', 0, 64)})
}

// SetSetpoint applies celsius (rounded to whole degrees) to the device's air
// conditioner and returns once core-command answered 2xx. Errors wrap ErrUnknownDevice,
// ErrRefused or ErrUnavailable, with EdgeX's message when it sent one.
func (c *Client) SetSetpoint(ctx context.Context, device string, celsius float64) error {
	if err := CheckDevice(device); err != nil {
		return fmt.Errorf("coreclient: %w", err)
	}
	body, err := Body(celsius)
	if err != nil {
		return err
	}
	u := *c.base
	u.Path += common.ApiDeviceRoute + "/name/" + device + "/" + Command
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("coreclient: %w", err)
	}
	req.Header.Set("Content-Type", common.ContentTypeJSON)
	req.Header.Set("Accept", common.ContentTypeJSON)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: PUT %s: %w", ErrUnavailable, u.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	kind := ErrRefused
	switch {
	case resp.StatusCode == http.StatusNotFound:
		kind = ErrUnknownDevice
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		kind = ErrUnavailable
	}
	return fmt.Errorf("%w: %s %s: %s%s", kind, device, strconv.FormatFloat(math.Round(celsius), 'f', 0, 64), resp.Status, message(b))
}

// message is ": <message>" of an EdgeX BaseResponse, or "".
func message(b []byte) string {
	var r dtoCommon.BaseResponse
	if json.Unmarshal(b, &r) != nil || r.Message == "" {
		return ""
	}
	msg := r.Message
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return ": " + msg
}

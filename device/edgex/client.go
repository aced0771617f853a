package edgex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/reading"
)

// Options configure a Client; zero values take the defaults named per field.
type Options struct {
	// EventURL is the base URL of core-data or the hub's ingest. Required.
	EventURL string
	// MetadataURL is the base URL of core-metadata (default EventURL).
	MetadataURL string
	// Token is sent as "Authorization: Bearer <token>" on every request if set.
	Token string
	// Service, Profile and Device are the EdgeX names. Required.
	Service, Profile, Device string
	// Location is registered with the device (optional).
	Location string
	// ServiceURL is the device service's base address: where core-command reaches
	// the command endpoint. Required by EdgeX even when the endpoint is off.
	ServiceURL string
	// SetpointMin and SetpointMax bound the set-point resource in the profile.
	SetpointMin, SetpointMax float64
	// HTTP is the client (default: 10 s timeout).
	HTTP *http.Client
}

// Client registers the device and posts its events. It is safe for concurrent use.
type Client struct {
	o Options
}

// Errors Send and Register return, to branch on with errors.Is.
var (
	// ErrUnauthorized: the hub refused the token (401, 403). Retry later; the
	// readings stay queued until someone fixes the token.
	ErrUnauthorized = errors.New("hub refused the token")
	// ErrNotRegistered: the hub does not know the device (404). Register, then retry.
	ErrNotRegistered = errors.New("hub does not know the device")
	// ErrRejected: the hub will never take this request (400, 413, 422).
	ErrRejected = errors.New("hub rejected the request")
)

// StatusError is an unexpected HTTP answer; it matches the errors above by code.
type StatusError struct {
	Op   string
	Code int
	Body string // start of the answer, for the log
	// RetryAfter is the answer's Retry-After (typically with 503 or 429), at most
	// MaxRetryAfter; 0 if it had none or a malformed one.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Code, e.Body)
}

// Is maps the status code to ErrUnauthorized, ErrNotRegistered or ErrRejected.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
	case ErrNotRegistered:
		return e.Code == http.StatusNotFound
	case ErrRejected:
		return e.Code == http.StatusBadRequest || e.Code == http.StatusRequestEntityTooLarge || e.Code == http.StatusUnprocessableEntity
	}
	return false
}

// NewClient checks the options.
func NewClient(o Options) (*Client, error) {
	if o.EventURL == "" || o.Service == "" || o.Profile == "" || o.Device == "" || o.ServiceURL == "" {
		return nil, errors.New("edgex: EventURL, Service, Profile, Device and ServiceURL are required")
	}
	if o.MetadataURL == "" {
		o.MetadataURL = o.EventURL
	}
	o.EventURL = strings.TrimRight(o.EventURL, "/")
	o.MetadataURL = strings.TrimRight(o.MetadataURL, "/")
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{o: o}, nil
}

// Requests returns the three registration requests, in the order they are sent:
// profile, device service, device. Each has passed EdgeX's validation.
func (c *Client) Requests() (profile requests.DeviceProfileRequest, service requests.AddDeviceServiceRequest, device requests.AddDeviceRequest, err error) {
	profile = requests.NewDeviceProfileRequest(Profile(c.o.Profile, c.o.SetpointMin, c.o.SetpointMax))
	service = requests.NewAddDeviceServiceRequest(dtos.DeviceService{
		Name: c.o.Service, BaseAddress: c.o.ServiceURL, AdminState: "UNLOCKED",
		Description: "SmartX Pi firmware: command endpoint of its devices",
		Labels:      []string{"smartx"},
	})
	d := dtos.Device{
		Name: c.o.Device, ServiceName: c.o.Service, ProfileName: c.o.Profile,
		AdminState: "UNLOCKED", OperatingState: "UP",
		Description: "SmartX server-room sensor",
		Labels:      []string{"smartx"},
		Protocols:   map[string]dtos.ProtocolProperties{"other": {}},
	}
	if c.o.Location != "" {
		d.Location = c.o.Location
	}
	device = requests.NewAddDeviceRequest(d)
	for _, v := range []interface{ Validate() error }{profile, service, device} {
		if err = v.Validate(); err != nil {
			return profile, service, device, fmt.Errorf("edgex registration request: %w", err)
		}
	}
	return profile, service, device, nil
}

// Register adds the profile, the device service and the device, in that order, and
// brings each up to date when it is there already (409):
//
//   - the profile is replaced (PUT), so a Pi with a newer firmware updates what
//     core-command offers;
//   - the device service and the device are patched (PATCH) where they differ from
//     what this Pi would register: a Pi whose address changed (DHCP) moves its
//     service's base address, which core-command sends commands to.
//
// The device is added with bypassValidation=true. EdgeX's core-metadata would
// otherwise ask the device service, over the message bus, to validate it, and wait 5 s
// for an answer that never comes: the firmware speaks only REST and is not on the bus
// (no broker credentials on every Pi). What the device service would check, its
// protocol properties, this firmware does not have; the requests have passed EdgeX's
// own DTO validation before they are sent.
func (c *Client) Register(ctx context.Context) error {
	profile, service, device, err := c.Requests()
	if err != nil {
		return err
	}
	if exists, err := c.add(ctx, common.ApiDeviceProfileRoute, profile); err != nil {
		return err
	} else if exists {
		if err := c.send(ctx, http.MethodPut, common.ApiDeviceProfileRoute, profile); err != nil {
			return err
		}
	}
	if exists, err := c.add(ctx, common.ApiDeviceServiceRoute, service); err != nil {
		return err
	} else if exists {
		if err := c.updateService(ctx, service.Service); err != nil {
			return err
		}
	}
	if exists, err := c.add(ctx, common.ApiDeviceRoute+"?bypassValidation=true", device); err != nil {
		return err
	} else if exists {
		if err := c.updateDevice(ctx, device.Device); err != nil {
			return err
		}
	}
	return nil
}

// updateService patches the registered device service where it differs from want.
func (c *Client) updateService(ctx context.Context, want dtos.DeviceService) error {
	var got struct {
		Service dtos.DeviceService `json:"service"`
	}
	if err := c.get(ctx, common.ApiDeviceServiceRoute+"/name/"+url.PathEscape(want.Name), &got); err != nil {
		return err
	}
	if got.Service.BaseAddress == want.BaseAddress && got.Service.AdminState == want.AdminState {
		return nil
	}
	u := dtos.UpdateDeviceService{Name: &want.Name, BaseAddress: &want.BaseAddress, AdminState: &want.AdminState}
	return c.send(ctx, http.MethodPatch, common.ApiDeviceServiceRoute, requests.NewUpdateDeviceServiceRequest(u))
}

// updateDevice patches the registered device where its service, profile or location
// differ from want.
func (c *Client) updateDevice(ctx context.Context, want dtos.Device) error {
	var got struct {
		Device dtos.Device `json:"device"`
	}
	if err := c.get(ctx, common.ApiDeviceRoute+"/name/"+url.PathEscape(want.Name), &got); err != nil {
		return err
	}
	if got.Device.ServiceName == want.ServiceName && got.Device.ProfileName == want.ProfileName &&
		fmt.Sprint(got.Device.Location) == fmt.Sprint(want.Location) {
		return nil
	}
	u := dtos.UpdateDevice{Name: &want.Name, ServiceName: &want.ServiceName, ProfileName: &want.ProfileName, Location: want.Location}
	return c.send(ctx, http.MethodPatch, common.ApiDeviceRoute+"?bypassValidation=true", requests.NewUpdateDeviceRequest(u))
}

// add posts a one-item EdgeX add request (a JSON array) and checks the item's status;
// exists is true for 409 (already registered).
func (c *Client) add(ctx context.Context, path string, req any) (exists bool, err error) {
	items, err := c.do(ctx, http.MethodPost, path, req)
	if err != nil {
		return false, err
	}
	switch items[0].StatusCode {
	case http.StatusCreated, http.StatusOK:
		return false, nil
	case http.StatusConflict:
		return true, nil
	}
	return false, &StatusError{Op: "register " + path, Code: items[0].StatusCode, Body: snippet([]byte(items[0].Message))}
}

// send is a one-item update (PUT or PATCH) that must answer 200.
func (c *Client) send(ctx context.Context, method, path string, req any) error {
	items, err := c.do(ctx, method, path, req)
	if err != nil {
		return err
	}
	if items[0].StatusCode != http.StatusOK {
		return &StatusError{Op: method + " " + path, Code: items[0].StatusCode, Body: snippet([]byte(items[0].Message))}
	}
	return nil
}

// itemStatus is the answer EdgeX gives per item of an array request.
type itemStatus struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// do sends a one-item array request to core-metadata and returns the item's status.
func (c *Client) do(ctx context.Context, method, path string, req any) ([]itemStatus, error) {
	body, err := json.Marshal([]any{req})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	code, hdr, resp, err := c.request(ctx, method, c.o.MetadataURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code != http.StatusMultiStatus && code != http.StatusCreated && code != http.StatusOK {
		return nil, statusError(method+" "+path, code, hdr, resp)
	}
	var items []itemStatus
	if err := json.Unmarshal(resp, &items); err != nil || len(items) != 1 {
		return nil, fmt.Errorf("%s %s: answer is not one status: %s", method, path, snippet(resp))
	}
	return items, nil
}

// get reads one registered object from core-metadata into v.
func (c *Client) get(ctx context.Context, path string, v any) error {
	code, hdr, resp, err := c.request(ctx, http.MethodGet, c.o.MetadataURL+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if code != http.StatusOK {
		return statusError("GET "+path, code, hdr, resp)
	}
	if err := json.Unmarshal(resp, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// Event is one queued event to post.
type Event struct {
	ID       string // event id (UUID); the same on every retry
	Source   string
	Origin   int64
	Readings []reading.Reading // all of one device
}

// Request builds the AddEventRequest for ev and validates it with EdgeX's rules.
// Reading ids and sequence numbers come from the queue, so a retry sends the same
// request.
//
// The sequence number travels as one tag of the event (its first reading's; the
// others follow one by one, as the queue numbers them), not as a tag of each reading:
// core-data keeps a device_info row per distinct set of reading tags, so a unique tag
// per reading grows that table by a row per reading, and EdgeX 4.0.2's core-data then
// deadlocks when several Pis drain their queues at once. The location, the same for
// every reading of a Pi, stays a reading tag.
func (c *Client) Request(ev Event) (requests.AddEventRequest, error) {
	if len(ev.Readings) == 0 {
		return requests.AddEventRequest{}, errors.New("edgex event: no readings")
	}
	device := ev.Readings[0].Device
	e := dtos.NewEvent(c.o.Profile, device, ev.Source)
	e.Id, e.Origin = ev.ID, ev.Origin
	e.Tags = dtos.Tags{reading.TagSeq: ev.Readings[0].Seq}
	for i, r := range ev.Readings {
		if r.Device != device {
			return requests.AddEventRequest{}, fmt.Errorf("edgex event: readings of %s and %s", device, r.Device)
		}
		if r.Seq != ev.Readings[0].Seq+uint64(i) {
			return requests.AddEventRequest{}, fmt.Errorf("edgex event: reading %d has seq %d, not %d after %d", i, r.Seq, ev.Readings[0].Seq+uint64(i), ev.Readings[0].Seq)
		}
		br, err := dtos.NewSimpleReading(c.o.Profile, device, r.Resource, common.ValueTypeFloat64, r.Value)
		if err != nil {
			return requests.AddEventRequest{}, fmt.Errorf("edgex reading %s: %w", r.Resource, err)
		}
		br.Id, br.Origin, br.Units = r.ID, r.Origin, r.Unit
		if r.Location != "" {
			br.Tags = dtos.Tags{reading.TagLocation: r.Location}
		}
		e.Readings = append(e.Readings, br)
	}
	req := requests.NewAddEventRequest(e)
	if err := req.Validate(); err != nil {
		return req, fmt.Errorf("edgex event %s: %w", ev.ID, err)
	}
	return req, nil
}

// EventPath is POST /api/v3/event/{service}/{profile}/{device}/{source}.
func (c *Client) EventPath(device, source string) string {
	return common.ApiEventRoute + "/" + url.PathEscape(c.o.Service) + "/" + url.PathEscape(c.o.Profile) +
		"/" + url.PathEscape(device) + "/" + url.PathEscape(source)
}

// Send posts ev. It returns nil once the hub answered 201 (or 409: it already has
// this event, from a retry whose answer was lost).
func (c *Client) Send(ctx context.Context, ev Event) error {
	req, err := c.Request(ev)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("edgex event %s: %w", ev.ID, err)
	}
	code, hdr, resp, err := c.request(ctx, http.MethodPost, c.o.EventURL+c.EventPath(req.Event.DeviceName, ev.Source), body)
	if err != nil {
		return fmt.Errorf("post event: %w", err)
	}
	if code == http.StatusCreated || code == http.StatusOK || code == http.StatusConflict {
		return nil
	}
	return statusError("post event", code, hdr, resp)
}

// statusError describes an unexpected answer, with the wait the hub asked for.
func statusError(op string, code int, hdr http.Header, body []byte) *StatusError {
	return &StatusError{Op: op, Code: code, Body: snippet(body), RetryAfter: ParseRetryAfter(hdr.Get("Retry-After"), time.Now())}
}

// request does one HTTP exchange and returns the status, the headers and the start
// of the body.
func (c *Client) request(ctx context.Context, method, u string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", common.ContentTypeJSON)
	}
	if c.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.Token)
	}
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header, b, err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Package fleet simulates a fleet of sensor devices that speak the EdgeX v3 REST API
// to a hub: each registers itself, then posts an event with a temperature and a
// humidity reading (with Options.RackStats, the firmware's six readings) every
// interval. It is the load generator of the demo, the end-to-end tests and the
// benchmark: thousands of devices in one process, where the real firmware
// (--simulate) runs as a process per Pi.
//
// Like the firmware, a device keeps every reading until the hub acknowledged it (here
// in memory) and retries in order, so a hub outage delays readings but loses none.
// Retries resend the same reading ids, which the hub deduplicates.
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/valyala/fasthttp"

	"github.com/smartx-team/overcloud/device/config"
	"github.com/smartx-team/overcloud/device/edgex"
	"github.com/smartx-team/overcloud/functions/reading"
)

// Names the fleet registers with EdgeX.
const (
	ProfileName = "smartx-room-sensor"
	ServiceName = "smartx-sim-service"
	SourceName  = "room"
)

// Options configure a Fleet; zero values take the defaults named per field.
type Options struct {
	// HubURL is the hub's (or EdgeX core-data's) base URL, where events go. Required.
	HubURL string
	// MetadataURL is where devices are registered: EdgeX core-metadata's base URL
	// (default HubURL, which the hub serves in standalone mode).
	MetadataURL string
	// Devices is how many devices to simulate (default 10).
	Devices int
	// Interval between two events of one device (default 10 s, the original's period).
	// Devices start spread over one interval so they do not post in lock step.
	Interval time.Duration
	// Prefix of device names: <Prefix><index> (default "sim-").
	Prefix string
	// Tokens maps device names to their bearer tokens; nil sends none.
	Tokens map[string]string
	// Locations are assigned round-robin to devices (default "sector-1".."sector-4").
	Locations []string
	// Client is the HTTP client (default: keep-alive client sized for the fleet).
	Client *http.Client
	// Logger (default: discard).
	Logger *slog.Logger
	// RackStats adds the readings the firmware sends besides the climate: the
	// air-conditioner set-point and the Pi's cpu, mem and disk use, so that an event
	// carries six readings as the firmware's do (default false: two).
	RackStats bool
	// ConnPerDevice gives every device its own HTTP connection, kept open between its
	// events, as a site of Pis holds them (default false: the devices share a pool of
	// connections, as many as are busy at once). Ignored when Client is set. Such a
	// device posts its events with fasthttp's client (BenchmarkEventPost: 0.7x
	// net/http's time per post, server included, a quarter of its allocations), so
	// that a load run leaves more of the cores to what it measures.
	ConnPerDevice bool
	// NoSeq sends events without our seq tag, as any plain EdgeX client does: the hub
	// numbers their readings (default false: one seq tag per event, as the firmware
	// sends, numbering its readings from it).
	NoSeq bool
	// Backoff, when its Min is set, makes a device whose post failed retry as the
	// firmware does: after Min, doubling up to Max, with jitter, and never sooner than
	// the hub's Retry-After; new readings queue meanwhile (default zero: retry at the
	// next interval's tick).
	Backoff edgex.Backoff
	// ForgetAcked counts the readings the hub acknowledged without keeping each
	// (Acked returns none), so that a long load run's generator does not grow with
	// what it sent (default false: Acked has every one).
	ForgetAcked bool
}

// FirmwareBackoff is the firmware's default wait between failed deliveries (its
// retry-min and retry-max).
func FirmwareBackoff() edgex.Backoff {
	d := config.Defaults()
	return edgex.Backoff{Min: d.RetryMin, Max: d.RetryMax}
}

// Sent identifies one reading the hub acknowledged.
type Sent struct {
	ID       string
	Device   string
	Resource string
	Value    float64
	Origin   int64
	// Seq is the sequence number the device gave the reading; 0 with Options.NoSeq.
	Seq uint64
}

// Fleet is a set of simulated devices. Run may be called once; Acked and Stats are
// safe to call at any time from any goroutine.
type Fleet struct {
	opts    Options
	devices []*device

	posted, acked, failed    atomic.Int64
	sampled, sampledReadings atomic.Int64
}

type device struct {
	name, location string
	eventURL       string
	client         *http.Client
	conn           *fasthttp.HostClient // with ConnPerDevice: posts events on one connection
	seq            uint64
	pending        []dtos.Event // oldest first, awaiting the hub's 201

	mu    sync.Mutex
	acked []Sent
}

// New returns a fleet; it sends nothing until Register and Run.
func New(o Options) (*Fleet, error) {
	if o.HubURL == "" {
		return nil, errors.New("fleet: HubURL is required")
	}
	if o.MetadataURL == "" {
		o.MetadataURL = o.HubURL
	}
	if o.Devices <= 0 {
		o.Devices = 10
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Prefix == "" {
		o.Prefix = "sim-"
	}
	if len(o.Locations) == 0 {
		o.Locations = []string{"sector-1", "sector-2", "sector-3", "sector-4"}
	}
	own := o.ConnPerDevice && o.Client == nil
	hub, err := url.Parse(o.HubURL)
	if err != nil || hub.Host == "" || (hub.Scheme != "http" && hub.Scheme != "https") {
		return nil, fmt.Errorf("fleet: HubURL %q is not an http or https URL", o.HubURL)
	}
	if hub.Port() == "" {
		hub.Host = net.JoinHostPort(hub.Hostname(), map[string]string{"http": "80", "https": "443"}[hub.Scheme])
	}
	if o.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = o.Devices
		tr.MaxIdleConnsPerHost = o.Devices
		o.Client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Backoff.Min < 0 || (o.Backoff.Min > 0 && o.Backoff.Max < o.Backoff.Min) {
		return nil, fmt.Errorf("fleet: Backoff wants 0 < Min <= Max, have %v..%v", o.Backoff.Min, o.Backoff.Max)
	}
	f := &Fleet{opts: o}
	for i := range o.Devices {
		d := &device{
			name:     fmt.Sprintf("%s%d", o.Prefix, i),
			location: o.Locations[i%len(o.Locations)],
			client:   o.Client,
		}
		d.eventURL = fmt.Sprintf("%s/api/v3/event/%s/%s/%s/%s", o.HubURL, ServiceName, ProfileName, d.name, SourceName)
		if own {
			d.conn = &fasthttp.HostClient{Addr: hub.Host, IsTLS: hub.Scheme == "https", MaxConns: 1,
				MaxIdleConnDuration: 5 * time.Minute, MaxResponseBodySize: maxAnswerBytes,
				ReadTimeout: o.Client.Timeout, WriteTimeout: o.Client.Timeout}
		}
		f.devices = append(f.devices, d)
	}
	return f, nil
}

// Close closes the devices' idle connections. Call it once the fleet is done: a
// device's own connection is not watched while idle, so one the hub has closed
// holds its file descriptor until then.
func (f *Fleet) Close() {
	for _, d := range f.devices {
		if d.conn != nil {
			d.conn.CloseIdleConnections()
		}
	}
	if t, ok := f.opts.Client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// DeviceNames lists the fleet's device names in order.
func (f *Fleet) DeviceNames() []string {
	names := make([]string, len(f.devices))
	for i, d := range f.devices {
		names[i] = d.name
	}
	return names
}

// Register adds the device profile, the device service and every device, the way the
// firmware does at start; an already registered name (409) counts as success.
func (f *Fleet) Register(ctx context.Context) error {
	profile := requests.NewDeviceProfileRequest(Profile())
	if err := f.add(ctx, "/api/v3/deviceprofile", "", profile); err != nil {
		return fmt.Errorf("register profile: %w", err)
	}
	svc := requests.NewAddDeviceServiceRequest(dtos.DeviceService{
		Name: ServiceName, BaseAddress: "http://127.0.0.1:59999", AdminState: "UNLOCKED",
	})
	if err := f.add(ctx, "/api/v3/deviceservice", "", svc); err != nil {
		return fmt.Errorf("register device service: %w", err)
	}
	for _, d := range f.devices {
		req := requests.NewAddDeviceRequest(dtos.Device{
			Name: d.name, ServiceName: ServiceName, ProfileName: ProfileName,
			AdminState: "UNLOCKED", OperatingState: "UP", Location: d.location,
			Protocols: map[string]dtos.ProtocolProperties{"other": {}},
		})
		// No device service runs behind simulated devices, so core-metadata is told
		// not to ask one to validate them (the hub asks none).
		if err := f.add(ctx, "/api/v3/device?bypassValidation=true", f.opts.Tokens[d.name], req); err != nil {
			return fmt.Errorf("register device %s: %w", d.name, err)
		}
	}
	return nil
}

// Profile is the device profile the simulated devices use.
func Profile() dtos.DeviceProfile {
	res := func(name, units string) dtos.DeviceResource {
		return dtos.DeviceResource{Name: name, Properties: dtos.ResourceProperties{
			ValueType: common.ValueTypeFloat64, ReadWrite: common.ReadWrite_R, Units: units,
		}}
	}
	return dtos.DeviceProfile{
		DeviceProfileBasicInfo: dtos.DeviceProfileBasicInfo{
			Name: ProfileName, Manufacturer: "SmartX", Model: "DHT22-sim",
			Description: "simulated server-room sensor",
		},
		DeviceResources: []dtos.DeviceResource{
			res("temperature", "C"), res("humidity", "%"),
			res("setpoint", "C"), res("cpu", "%"), res("mem", "%"), res("disk", "%"),
		},
	}
}

// add posts a one-item EdgeX add request and checks the item's status.
func (f *Fleet) add(ctx context.Context, path, token string, item any) error {
	body, err := json.Marshal([]any{item})
	if err != nil {
		return err
	}
	status, respBody, _, err := f.post(ctx, f.opts.Client, f.opts.MetadataURL+path, token, body)
	if err != nil {
		return err
	}
	if status != http.StatusMultiStatus && status != http.StatusCreated && status != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", path, status, respBody)
	}
	var items []struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal(respBody, &items); err != nil || len(items) != 1 {
		return fmt.Errorf("%s: unexpected answer %s", path, respBody)
	}
	if c := items[0].StatusCode; c != http.StatusCreated && c != http.StatusConflict {
		return fmt.Errorf("%s: item status %d: %s", path, c, items[0].Message)
	}
	return nil
}

func (f *Fleet) post(ctx context.Context, client *http.Client, url, token string, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	return resp.StatusCode, b, edgex.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), err
}

// maxAnswerBytes bounds an answer the fleet reads.
const maxAnswerBytes = 1 << 16

// postOnConn posts an event on d's own connection, as post does; the post ends at
// ctx's deadline or the client's timeout, whichever is first.
func (f *Fleet) postOnConn(ctx context.Context, d *device, body []byte) (int, []byte, time.Duration, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(d.eventURL)
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetContentType("application/json")
	if token := f.opts.Tokens[d.name]; token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.SetBodyRaw(body)
	deadline := time.Now().Add(f.opts.Client.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := d.conn.DoDeadline(req, resp, deadline); err != nil {
		return 0, nil, 0, err
	}
	answer := append([]byte(nil), resp.Body()...)
	return resp.StatusCode(), answer, edgex.ParseRetryAfter(string(resp.Header.Peek("Retry-After")), time.Now()), nil
}

// Run makes every device sample and post until ctx ends. A device whose post fails
// keeps the event and retries it, before any newer one, at its next tick.
func (f *Fleet) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, d := range f.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.runDevice(ctx, d, time.Duration(i)*f.opts.Interval/time.Duration(len(f.devices)))
		}()
	}
	wg.Wait()
	return nil
}

func (f *Fleet) runDevice(ctx context.Context, d *device, offset time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(offset):
	}
	t := time.NewTicker(f.opts.Interval)
	defer t.Stop()
	backoff := f.opts.Backoff  // this device's own
	var retry <-chan time.Time // set while a device with Backoff waits to retry
	for {
		ev := f.sample(d, time.Now())
		f.sampled.Add(1)
		f.sampledReadings.Add(int64(len(ev.Readings)))
		d.pending = append(d.pending, ev)
		if retry == nil {
			retry = f.send(ctx, d, &backoff)
		}
		for ticked := false; !ticked; {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ticked = true
			case <-retry:
				retry = f.send(ctx, d, &backoff)
			}
		}
	}
}

// send flushes d and, for a device with Backoff whose post failed, returns when to
// retry (nil: at the next tick).
func (f *Fleet) send(ctx context.Context, d *device, backoff *edgex.Backoff) <-chan time.Time {
	failed, retryAfter := f.flush(ctx, d)
	if backoff.Min == 0 || ctx.Err() != nil {
		return nil
	}
	if !failed {
		backoff.Delivered()
		return nil
	}
	return time.After(backoff.Failed(retryAfter))
}

// sample makes one event: a slow daily-like swing plus noise, different per device.
func (f *Fleet) sample(d *device, now time.Time) dtos.Event {
	ev := dtos.NewEvent(ProfileName, d.name, SourceName)
	ev.Origin = now.UnixNano()
	phase := float64(now.UnixNano()%int64(time.Hour)) / float64(time.Hour) * 2 * math.Pi
	temp := 24 + 3*math.Sin(phase+float64(len(d.name))) + rand.NormFloat64()*0.2
	hum := 45 + 5*math.Cos(phase) + rand.NormFloat64()*0.5
	type value struct {
		name string
		v    float64
	}
	values := []value{{"temperature", temp}, {"humidity", hum}}
	if f.opts.RackStats {
		values = append(values, value{"setpoint", 24}, value{"cpu", 5 + rand.Float64()*10},
			value{"mem", 35 + rand.Float64()*5}, value{"disk", 31.5})
	}
	// Like the firmware, the event carries the seq of its first reading and the rest
	// follow it: nothing unique per reading goes into reading tags, which would cost
	// EdgeX core-data a device_info row per reading.
	if !f.opts.NoSeq {
		ev.Tags = dtos.Tags{reading.TagSeq: d.seq + 1}
		d.seq += uint64(len(values))
	}
	for _, r := range values {
		// NewSimpleReading gives the reading its own new UUID, as EdgeX's SDK does.
		br, err := dtos.NewSimpleReading(ProfileName, d.name, r.name, common.ValueTypeFloat64, math.Round(r.v*100)/100)
		if err != nil { // only for an unsupported value type: a bug here, not bad input
			panic(err)
		}
		br.Origin = ev.Origin
		ev.Readings = append(ev.Readings, br)
	}
	return ev
}

// flush posts pending events oldest first and stops at the first failure, returning
// whether one failed and the Retry-After of its answer (0 if none).
func (f *Fleet) flush(ctx context.Context, d *device) (failed bool, retryAfter time.Duration) {
	for len(d.pending) > 0 {
		ev := d.pending[0]
		body, err := json.Marshal(requests.NewAddEventRequest(ev))
		if err != nil {
			panic(err) // our own DTO always marshals
		}
		f.posted.Add(1)
		var status int
		var resp []byte
		var retryAfter time.Duration
		if d.conn != nil {
			status, resp, retryAfter, err = f.postOnConn(ctx, d, body)
		} else {
			status, resp, retryAfter, err = f.post(ctx, d.client, d.eventURL, f.opts.Tokens[d.name], body)
		}
		if err != nil || status != http.StatusCreated {
			if ctx.Err() != nil {
				return false, 0 // stopped, not failed: the event stays pending for Drain
			}
			f.failed.Add(1)
			f.opts.Logger.Debug("post event failed; will retry", "device", d.name, "status", status, "err", err, "body", string(resp))
			return true, retryAfter
		}
		if !f.opts.ForgetAcked {
			d.keep(ev)
		}
		f.acked.Add(int64(len(ev.Readings)))
		d.pending = d.pending[1:]
	}
	return false, 0
}

// keep records ev's readings as acknowledged, for Acked.
func (d *device) keep(ev dtos.Event) {
	first, _ := ev.Tags[reading.TagSeq].(uint64)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, r := range ev.Readings {
		s := Sent{ID: r.Id, Device: d.name, Resource: r.ResourceName, Origin: r.Origin, Value: mustFloat(r.Value)}
		if first > 0 {
			s.Seq = first + uint64(i)
		}
		d.acked = append(d.acked, s)
	}
}

// mustFloat reads back a value the fleet itself formatted.
func mustFloat(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return v
}

// Drain posts what each device still holds until the hub acknowledged all of it or
// ctx ends, retrying every retry interval. Call it after Run returned, never during.
func (f *Fleet) Drain(ctx context.Context, retry time.Duration) error {
	var wg sync.WaitGroup
	for _, d := range f.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(d.pending) > 0 && ctx.Err() == nil {
				_, _ = f.flush(ctx, d)
				if len(d.pending) > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(retry):
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := f.Pending(); n > 0 {
		return fmt.Errorf("fleet: %d events not acknowledged: %w", n, ctx.Err())
	}
	return nil
}

// Pending counts events not yet acknowledged; like Drain, only after Run returned.
func (f *Fleet) Pending() int {
	n := 0
	for _, d := range f.devices {
		n += len(d.pending)
	}
	return n
}

// Acked returns every reading the hub acknowledged so far, per device in send order.
func (f *Fleet) Acked() []Sent {
	var all []Sent
	for _, d := range f.devices {
		d.mu.Lock()
		all = append(all, d.acked...)
		d.mu.Unlock()
	}
	return all
}

// Stats counts the fleet's work so far.
type Stats struct {
	Posted, Failed int64 // event POSTs made, and those the hub refused or did not answer
	// Sampled counts the events made; SampledReadings their readings, so that
	// SampledReadings - AckedReadings is what the devices still hold, at any time.
	Sampled, SampledReadings int64
	AckedReadings            int64
}

// Stats returns the counters so far.
func (f *Fleet) Stats() Stats {
	return Stats{Posted: f.posted.Load(), Failed: f.failed.Load(), Sampled: f.sampled.Load(), SampledReadings: f.sampledReadings.Load(), AckedReadings: f.acked.Load()}
}

// Package hubtest is an EdgeX v3 hub for the firmware's tests and benchmark: the
// subset of core-metadata and core-data the firmware calls (and the hub's standalone
// ingest accepts), on 127.0.0.1, checking every request with EdgeX's own contract
// types and validation and every device's bearer token.
//
// It keeps what a real hub keeps: registrations (a second add of the same name is
// answered 409) and each reading once by id (a retried reading is counted as a
// duplicate, and must be identical to the first delivery). What it saw is readable
// at any time, so a test can demand that every reading arrived exactly once, in
// order. Stop and Start (on the same address) simulate an outage.
package hubtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	dtoCommon "github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/responses"
	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/reading"
)

// Received is one reading as the hub stored it.
type Received struct {
	ID, EventID, Device, Profile, Source, Resource, Units, Location string

	Value  float64
	Origin int64
	Seq    uint64
}

// Hub is safe for concurrent use.
type Hub struct {
	tokens map[string]string // device -> token; nil: no auth

	mu       sync.Mutex
	addr     string
	srv      *http.Server
	done     chan struct{}
	profiles map[string]int // name -> adds seen
	services map[string]int
	devices  map[string]int
	// What is registered, as the last add or update left it.
	serviceDTOs map[string]dtos.DeviceService
	deviceDTOs  map[string]dtos.Device
	updates     int                   // PUT and PATCH items applied
	readings    map[string][]Received // per device, in order of first arrival
	byID        map[string]Received
	dups        int
	events      int
	unauth      int
	invalid     []string
}

// New returns a stopped hub. tokens maps device names to the bearer token each must
// send with its device registration and its events; nil turns auth off.
func New(tokens map[string]string) *Hub {
	return &Hub{
		tokens:   tokens,
		profiles: map[string]int{}, services: map[string]int{}, devices: map[string]int{},
		serviceDTOs: map[string]dtos.DeviceService{}, deviceDTOs: map[string]dtos.Device{},
		readings: map[string][]Received{}, byID: map[string]Received{},
	}
}

// Start listens on addr ("127.0.0.1:0" picks a free port) or, if addr is empty, on
// the address of the previous Start, and serves until Stop.
func (h *Hub) Start(addr string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		return errors.New("hubtest: already running")
	}
	if addr == "" {
		addr = h.addr
	}
	var ln net.Listener
	var err error
	// The port of a stopped hub can stay busy for a moment; retry briefly.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("hubtest listen: %w", err)
	}
	h.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+common.ApiDeviceProfileRoute, h.addProfile)
	mux.HandleFunc("POST "+common.ApiDeviceServiceRoute, h.addService)
	mux.HandleFunc("POST "+common.ApiDeviceRoute, h.addDevice)
	mux.HandleFunc("PUT "+common.ApiDeviceProfileRoute, h.updateProfile)
	mux.HandleFunc("GET "+common.ApiDeviceServiceRoute+"/name/{name}", h.getService)
	mux.HandleFunc("PATCH "+common.ApiDeviceServiceRoute, h.patchService)
	mux.HandleFunc("GET "+common.ApiDeviceRoute+"/name/{name}", h.getDevice)
	mux.HandleFunc("PATCH "+common.ApiDeviceRoute, h.patchDevice)
	mux.HandleFunc("POST "+common.ApiEventRoute+"/{service}/{profile}/{device}/{source}", h.addEvent)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	h.done = make(chan struct{})
	srv, done := h.srv, h.done
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return nil
}

// Stop closes the listener and every connection at once, like a crashed hub.
func (h *Hub) Stop() {
	h.mu.Lock()
	srv, done := h.srv, h.done
	h.srv = nil
	h.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

// URL is the hub's base URL.
func (h *Hub) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return "http://" + h.addr
}

// Readings returns the device's readings in the order they first arrived.
func (h *Hub) Readings(device string) []Received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Received(nil), h.readings[device]...)
}

// Invalid lists the requests that failed validation, with the reason.
func (h *Hub) Invalid() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.invalid...)
}

// Counts of what the hub answered.
type Counts struct {
	Events       int            // events accepted (201)
	Duplicates   int            // readings received again after a retry
	Unauthorized int            // requests refused for their token
	Updates      int            // PUT and PATCH items applied to registrations
	Profiles     map[string]int // adds seen per name
	Services     map[string]int
	Devices      map[string]int
}

// Counts returns the counters so far.
func (h *Hub) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		o := make(map[string]int, len(m))
		for k, v := range m {
			o[k] = v
		}
		return o
	}
	return Counts{Events: h.events, Duplicates: h.dups, Unauthorized: h.unauth, Updates: h.updates,
		Profiles: cp(h.profiles), Services: cp(h.services), Devices: cp(h.devices)}
}

func (h *Hub) bad(w http.ResponseWriter, r *http.Request, format string, a ...any) {
	msg := r.Method + " " + r.URL.Path + ": " + fmt.Sprintf(format, a...)
	h.mu.Lock()
	h.invalid = append(h.invalid, msg)
	h.mu.Unlock()
	reply(w, http.StatusBadRequest, dtoCommon.NewBaseResponse("", msg, http.StatusBadRequest))
}

func (h *Hub) authorized(r *http.Request, device string) bool {
	if h.tokens == nil {
		return true
	}
	tok, ok := h.tokens[device]
	if ok && r.Header.Get("Authorization") == "Bearer "+tok {
		return true
	}
	h.mu.Lock()
	h.unauth++
	h.mu.Unlock()
	return false
}

// items reads an add request's JSON array.
func (h *Hub) items(w http.ResponseWriter, r *http.Request) ([]json.RawMessage, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, common.ContentTypeJSON) {
		h.bad(w, r, "content type %q", ct)
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		h.bad(w, r, "read: %v", err)
		return nil, false
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil || len(items) == 0 {
		h.bad(w, r, "want a non-empty JSON array: %v", err)
		return nil, false
	}
	return items, true
}

type status struct {
	dtoCommon.BaseResponse `json:",inline"`
	ID                     string `json:"id,omitempty"`
}

func added(seen map[string]int, name string) status {
	seen[name]++
	if seen[name] > 1 {
		return status{BaseResponse: dtoCommon.NewBaseResponse("", name+" already exists", http.StatusConflict)}
	}
	return status{BaseResponse: dtoCommon.NewBaseResponse("", "", http.StatusCreated), ID: uuid.NewString()}
}

func (h *Hub) addProfile(w http.ResponseWriter, r *http.Request) {
	eachItem(h, w, r, "profile", func(req requests.DeviceProfileRequest) (status, error) {
		if err := req.Validate(); err != nil {
			return status{}, err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		return added(h.profiles, req.Profile.Name), nil
	})
}

func (h *Hub) addService(w http.ResponseWriter, r *http.Request) {
	eachItem(h, w, r, "device service", func(req requests.AddDeviceServiceRequest) (status, error) {
		if err := req.Validate(); err != nil {
			return status{}, err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		st := added(h.services, req.Service.Name)
		if st.StatusCode == http.StatusCreated {
			h.serviceDTOs[req.Service.Name] = req.Service
		}
		return st, nil
	})
}

func (h *Hub) addDevice(w http.ResponseWriter, r *http.Request) {
	if h.validationTimesOut(w, r) {
		return
	}
	eachItem(h, w, r, "device", func(req requests.AddDeviceRequest) (status, error) {
		if err := req.Validate(); err != nil {
			return status{}, err
		}
		d := req.Device
		if !h.authorized(r, d.Name) {
			return status{BaseResponse: dtoCommon.NewBaseResponse("", "unauthorized", http.StatusUnauthorized)}, nil
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		switch {
		case h.profiles[d.ProfileName] == 0:
			return status{BaseResponse: dtoCommon.NewBaseResponse("", "no profile "+d.ProfileName, http.StatusNotFound)}, nil
		case h.services[d.ServiceName] == 0:
			return status{BaseResponse: dtoCommon.NewBaseResponse("", "no service "+d.ServiceName, http.StatusNotFound)}, nil
		}
		st := added(h.devices, d.Name)
		if st.StatusCode == http.StatusCreated {
			h.deviceDTOs[d.Name] = d
		}
		return st, nil
	})
}

// validationTimesOut answers 503 "request timeout", as EdgeX's core-metadata does for a
// device added or changed without bypassValidation: it asks the device service to
// validate the device over the message bus, and the firmware is not on the bus.
func (h *Hub) validationTimesOut(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Get("bypassValidation") == "true" {
		return false
	}
	reply(w, http.StatusServiceUnavailable, dtoCommon.NewBaseResponse("", "request timeout", http.StatusServiceUnavailable))
	return true
}

// eachItem answers an array request of T items as core-metadata does: 207 with one
// status per item, from do. An item that does not decode, or that do refuses with an
// error, makes the whole request bad, recorded in Invalid.
func eachItem[T any](h *Hub, w http.ResponseWriter, r *http.Request, what string, do func(T) (status, error)) {
	items, ok := h.items(w, r)
	if !ok {
		return
	}
	var out []status
	for _, it := range items {
		var req T
		if err := json.Unmarshal(it, &req); err != nil {
			h.bad(w, r, "%s: %v", what, err)
			return
		}
		st, err := do(req)
		if err != nil {
			h.bad(w, r, "%s: %v", what, err)
			return
		}
		out = append(out, st)
	}
	reply(w, http.StatusMultiStatus, out)
}

// updateProfile is core-metadata's PUT: 200 for a registered profile, else 404.
func (h *Hub) updateProfile(w http.ResponseWriter, r *http.Request) {
	eachItem(h, w, r, "profile", func(req requests.DeviceProfileRequest) (status, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.updated(h.profiles[req.Profile.Name] > 0, "profile "+req.Profile.Name), nil
	})
}

// updated is the item status of an update of something registered (ok) or not.
func (h *Hub) updated(ok bool, what string) status {
	if !ok {
		return status{BaseResponse: dtoCommon.NewBaseResponse("", "no "+what, http.StatusNotFound)}
	}
	h.updates++
	return status{BaseResponse: dtoCommon.NewBaseResponse("", "", http.StatusOK)}
}

func (h *Hub) getService(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	d, ok := h.serviceDTOs[r.PathValue("name")]
	h.mu.Unlock()
	if !ok {
		reply(w, http.StatusNotFound, dtoCommon.NewBaseResponse("", "no such device service", http.StatusNotFound))
		return
	}
	reply(w, http.StatusOK, responses.NewDeviceServiceResponse("", "", http.StatusOK, d))
}

func (h *Hub) patchService(w http.ResponseWriter, r *http.Request) {
	eachItem(h, w, r, "device service update", func(req requests.UpdateDeviceServiceRequest) (status, error) {
		if req.Service.Name == nil {
			return status{}, errors.New("no name")
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		d, known := h.serviceDTOs[*req.Service.Name]
		if known && req.Service.BaseAddress != nil {
			d.BaseAddress = *req.Service.BaseAddress
			h.serviceDTOs[d.Name] = d
		}
		return h.updated(known, "device service "+*req.Service.Name), nil
	})
}

func (h *Hub) getDevice(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !h.authorized(r, name) {
		reply(w, http.StatusUnauthorized, dtoCommon.NewBaseResponse("", "unauthorized", http.StatusUnauthorized))
		return
	}
	h.mu.Lock()
	d, ok := h.deviceDTOs[name]
	h.mu.Unlock()
	if !ok {
		reply(w, http.StatusNotFound, dtoCommon.NewBaseResponse("", "no such device", http.StatusNotFound))
		return
	}
	reply(w, http.StatusOK, responses.NewDeviceResponse("", "", http.StatusOK, d))
}

func (h *Hub) patchDevice(w http.ResponseWriter, r *http.Request) {
	if h.validationTimesOut(w, r) {
		return
	}
	eachItem(h, w, r, "device update", func(req requests.UpdateDeviceRequest) (status, error) {
		if req.Device.Name == nil {
			return status{}, errors.New("no name")
		}
		name := *req.Device.Name
		if !h.authorized(r, name) {
			return status{BaseResponse: dtoCommon.NewBaseResponse("", "unauthorized", http.StatusUnauthorized)}, nil
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		d, known := h.deviceDTOs[name]
		if known {
			if u := req.Device.ServiceName; u != nil {
				d.ServiceName = *u
			}
			if u := req.Device.ProfileName; u != nil {
				d.ProfileName = *u
			}
			if req.Device.Location != nil {
				d.Location = req.Device.Location
			}
			h.deviceDTOs[name] = d
		}
		return h.updated(known, "device "+name), nil
	})
}

// Service returns the registered device service of that name, as the last add or
// update left it.
func (h *Hub) Service(name string) (dtos.DeviceService, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.serviceDTOs[name]
	return d, ok
}

func (h *Hub) addEvent(w http.ResponseWriter, r *http.Request) {
	device := r.PathValue("device")
	if !h.authorized(r, device) {
		reply(w, http.StatusUnauthorized, dtoCommon.NewBaseResponse("", "unauthorized", http.StatusUnauthorized))
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, common.ContentTypeJSON) {
		h.bad(w, r, "content type %q", ct)
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		h.bad(w, r, "read: %v", err)
		return
	}
	var req requests.AddEventRequest
	if err := json.Unmarshal(b, &req); err != nil { // UnmarshalJSON validates too
		h.bad(w, r, "event: %v", err)
		return
	}
	if err := req.Validate(); err != nil {
		h.bad(w, r, "event: %v", err)
		return
	}
	ev := req.Event
	if ev.DeviceName != device || ev.ProfileName != r.PathValue("profile") || ev.SourceName != r.PathValue("source") {
		h.bad(w, r, "path names %s/%s/%s, event %s/%s/%s", r.PathValue("profile"), device, r.PathValue("source"), ev.ProfileName, ev.DeviceName, ev.SourceName)
		return
	}
	h.mu.Lock()
	known := h.devices[device] > 0 && h.services[r.PathValue("service")] > 0
	h.mu.Unlock()
	if !known {
		reply(w, http.StatusNotFound, dtoCommon.NewBaseResponse("", "device or service not registered", http.StatusNotFound))
		return
	}
	var got []Received
	for i, br := range ev.Readings {
		if _, err := uuid.Parse(br.Id); err != nil {
			h.bad(w, r, "reading id %q is not a UUID", br.Id)
			return
		}
		if br.DeviceName != device || br.ProfileName != ev.ProfileName {
			h.bad(w, r, "reading %s names %s/%s", br.Id, br.ProfileName, br.DeviceName)
			return
		}
		v, err := strconv.ParseFloat(br.Value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			h.bad(w, r, "reading %s value %q", br.Id, br.Value)
			return
		}
		// Nothing unique per reading in its tags (core-data keeps a row per distinct
		// set): the sequence number is the event's tag plus the reading's index.
		if _, ok := br.Tags[reading.TagSeq]; ok {
			h.bad(w, r, "reading %s: a seq tag per reading grows core-data's device_info table by a row per reading; tag the event", br.Id)
			return
		}
		first, ok := ev.Tags[reading.TagSeq].(float64)
		if !ok || first < 1 || first != math.Trunc(first) {
			h.bad(w, r, "event %s: tag seq %v is not a sequence number", ev.Id, ev.Tags[reading.TagSeq])
			return
		}
		seq := first + float64(i)
		loc, _ := br.Tags[reading.TagLocation].(string)
		got = append(got, Received{
			ID: br.Id, EventID: ev.Id, Device: device, Profile: ev.ProfileName, Source: ev.SourceName,
			Resource: br.ResourceName, Units: br.Units, Location: loc,
			Value: v, Origin: br.Origin, Seq: uint64(seq),
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rc := range got {
		if prev, ok := h.byID[rc.ID]; ok {
			h.dups++
			if prev != rc {
				h.invalid = append(h.invalid, fmt.Sprintf("reading %s sent again with other content: %+v, first %+v", rc.ID, rc, prev))
			}
			continue
		}
		h.byID[rc.ID] = rc
		h.readings[device] = append(h.readings[device], rc)
	}
	h.events++
	reply(w, http.StatusCreated, dtoCommon.NewBaseWithIdResponse("", "", http.StatusCreated, ev.Id))
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", common.ContentTypeJSON)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WaitFor polls cond every 50 ms until it holds or ctx ends.
func WaitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

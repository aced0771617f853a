// Package edgexrest is the hub's own EdgeX v3 REST endpoint, for gateways too small for
// EdgeX: the subset of core-data and core-metadata the firmware uses, with EdgeX's own
// DTOs and validation, so the firmware cannot tell it from EdgeX.
//
//	GET  /api/v3/ping
//	POST /api/v3/deviceprofile      [DeviceProfileRequest...]     207, item 201/409
//	POST /api/v3/deviceservice      [AddDeviceServiceRequest...]  207, item 201/409
//	POST /api/v3/device             [AddDeviceRequest...]         207, item 201/409/404/401/403
//	GET  /api/v3/device/name/{name}
//	PUT  /api/v3/deviceprofile      [DeviceProfileRequest...]     207, item 200/404
//	GET  /api/v3/deviceservice/name/{name}
//	PATCH /api/v3/deviceservice     [UpdateDeviceServiceRequest...] 207, item 200/404
//	PATCH /api/v3/device            [UpdateDeviceRequest...]      207, item 200/404/401/403
//	POST /api/v3/event/{service}/{profile}/{device}/{source}  AddEventRequest  201
//	GET|PUT /api/v3/device/name/{name}/{command}   core-command: forwarded to the device
//
// An event is answered 201 only after its good readings are durable in the outbox.
// Bad input gets a 4xx with EdgeX's response body (apiVersion, message, statusCode)
// and is counted in hub_rejected_total by reason. With a tokens file, event and device
// requests need "Authorization: Bearer <the device's token>"; profiles and device
// services carry no data and need none.
package edgexrest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	dtoCommon "github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/common"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/hubbridge/registry"
)

// DefaultMaxBodyBytes bounds an event body (64 KiB: an event of a few readings is
// under 1 KiB).
const DefaultMaxBodyBytes = 64 << 10

// maxMetadataBytes bounds registration bodies: device profiles can be large.
const maxMetadataBytes = 1 << 20

// Options configure a Server; Intake and Registry are required.
type Options struct {
	Intake   *intake.Intake
	Registry *registry.Registry
	// Tokens, if not nil, turns per-device token auth on.
	Tokens *TokenFile
	// MaxBodyBytes bounds an event body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxInFlight bounds the events handled at once; an event that finds no slot
	// within AdmitWait is answered 503 with Retry-After (defaults DefaultMaxInFlight,
	// DefaultAdmitWait).
	MaxInFlight int
	AdmitWait   time.Duration
	// StoreTimeout bounds the device lookup and the store of one event; past it the
	// event is answered 503 with Retry-After (default DefaultStoreTimeout).
	StoreTimeout time.Duration
	// RetryAfter is the least Retry-After of those answers (default DefaultRetryAfter).
	RetryAfter time.Duration
	// CommandTimeout bounds one command forwarded to a device (default 10 s).
	CommandTimeout time.Duration
	// ServiceName is reported by ping (default "smartx-hubbridge").
	ServiceName string
	// Registerer receives hub_http_errors_total (default: none).
	Registerer prometheus.Registerer
	// Logger (default: discard).
	Logger *slog.Logger
}

// Server serves the EdgeX REST subset. Its handler is safe for concurrent use.
type Server struct {
	opts Options
	in   *intake.Intake
	reg  *registry.Registry
	log  *slog.Logger
	mux  *http.ServeMux
	bufs sync.Pool
	// errors counts every non-2xx answer by status and reason.
	errors *prometheus.CounterVec
	// client forwards commands to devices (each request has its own deadline).
	client *http.Client
	// adm bounds the events in flight.
	adm *admission
	// dec decodes and validates events on goroutines of their own.
	dec *decoders
}

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.Intake == nil || o.Registry == nil {
		return nil, errors.New("ingest: Intake and Registry are required")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ServiceName == "" {
		o.ServiceName = "smartx-hubbridge"
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = defaultCommandTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.AdmitWait <= 0 {
		o.AdmitWait = DefaultAdmitWait
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, in: o.Intake, reg: o.Registry, log: o.Logger, mux: http.NewServeMux(), client: &http.Client{},
		adm: newAdmission(o.MaxInFlight, o.AdmitWait, o.RetryAfter),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_http_errors_total",
			Help: "Non-2xx answers of the EdgeX REST ingest, by status and reason.",
		}, []string{"status", "reason"}),
	}
	for _, a := range errorAnswers {
		s.errors.WithLabelValues(strconv.Itoa(a.status), a.reason)
	}
	for _, status := range deviceAnswers {
		s.errors.WithLabelValues(strconv.Itoa(status), answerDeviceAnswer)
	}
	if o.Registerer != nil {
		limit := prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_events_max_in_flight", Help: "The EdgeX REST ingest's limit of events in flight (HUB_MAX_IN_FLIGHT)."})
		limit.Set(float64(o.MaxInFlight))
		for _, c := range []prometheus.Collector{s.errors, s.adm.inFlight, limit} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: register metrics: %w", err)
			}
		}
	}
	s.dec = newDecoders(0)
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.mux.HandleFunc("GET /api/v3/ping", s.ping)
	s.mux.HandleFunc("POST /api/v3/deviceprofile", s.addProfiles)
	s.mux.HandleFunc("POST /api/v3/deviceservice", s.addServices)
	s.mux.HandleFunc("POST /api/v3/device", s.addDevices)
	s.mux.HandleFunc("GET /api/v3/device/name/{name}", s.getDevice)
	s.mux.HandleFunc("PUT /api/v3/deviceprofile", s.updateProfiles)
	s.mux.HandleFunc("GET /api/v3/deviceservice/name/{name}", s.getService)
	s.mux.HandleFunc("PATCH /api/v3/deviceservice", s.patchServices)
	s.mux.HandleFunc("PATCH /api/v3/device", s.patchDevices)
	s.mux.HandleFunc("POST /api/v3/event/{service}/{profile}/{device}/{source}", s.addEvent)
	s.mux.HandleFunc("GET /api/v3/device/name/{name}/{command}", s.command)
	s.mux.HandleFunc("PUT /api/v3/device/name/{name}/{command}", s.command)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, answerNoEndpoint, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s, nil
}

// Handler is the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.mux }

// Close stops the goroutines that decode events; call it once the server that calls
// Handler has stopped (a request after Close is still served, decoded on its own
// goroutine).
func (s *Server) Close() { s.dec.Close() }

func (s *Server) ping(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, dtoCommon.NewPingResponse(s.opts.ServiceName))
}

// tokens returns the current tokens, nil when auth is off.
func (s *Server) tokens() *Tokens {
	if s.opts.Tokens == nil {
		return nil
	}
	return s.opts.Tokens.Get()
}

// readBody reads at most limit bytes into a pooled buffer; the caller puts it back.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) (*bytes.Buffer, error) {
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf, err
}

func (s *Server) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		s.bufs.Put(b)
	}
}

// bodyError answers a body read error: 413 when over the limit, else 400.
func (s *Server) bodyError(w http.ResponseWriter, err error, limit int64) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.in.Reject(intake.ReasonTooLarge)
		s.writeError(w, http.StatusRequestEntityTooLarge, string(intake.ReasonTooLarge), fmt.Sprintf("request body is over the limit of %d bytes", limit))
		return
	}
	s.in.Reject(intake.ReasonMalformed)
	s.writeError(w, http.StatusBadRequest, string(intake.ReasonMalformed), "cannot read the request body")
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"apiVersion":"v3","message":"cannot encode the answer","statusCode":500}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Why a request got a non-2xx answer, beside the intake's rejection reasons (which
// say why input was bad): the reason label of hub_http_errors_total.
const (
	answerRegistryDown    = "registry_unavailable" // 503: the device registry (MongoDB) did not answer
	answerStoreFailed     = "store_failed"         // 503: the outbox could not store the readings
	answerNothingAccepted = "nothing_accepted"     // 422: every reading of the event was rejected
	answerNoEndpoint      = "no_such_endpoint"     // 404
	answerNotRegistered   = "not_registered"       // 404: a registration read that names nothing registered
)

// errorAnswers are the status and reason pairs the server answers with; each series
// of hub_http_errors_total exists from the start, so a dashboard shows a zero.
var errorAnswers = []struct {
	status int
	reason string
}{
	{http.StatusServiceUnavailable, answerRegistryDown},
	{http.StatusServiceUnavailable, answerStoreFailed},
	{http.StatusServiceUnavailable, answerOverloaded},
	{http.StatusUnprocessableEntity, answerNothingAccepted},
	{http.StatusNotFound, answerNoEndpoint},
	{http.StatusNotFound, answerNotRegistered},
	{http.StatusNotFound, string(intake.ReasonUnknownDevice)},
	{http.StatusBadRequest, string(intake.ReasonMalformed)},
	{http.StatusBadRequest, string(intake.ReasonInvalid)},
	{http.StatusBadRequest, string(intake.ReasonPathMismatch)},
	{http.StatusRequestEntityTooLarge, string(intake.ReasonTooLarge)},
	{http.StatusUnauthorized, string(intake.ReasonUnauthorized)},
	{http.StatusForbidden, string(intake.ReasonForbidden)},
	{http.StatusBadRequest, answerBadCommand},
	{http.StatusNotFound, answerNoService},
	{http.StatusServiceUnavailable, answerDeviceDown},
	{http.StatusGatewayTimeout, answerDeviceTimeout},
}

// writeError writes EdgeX's error body ({"apiVersion":"v3","message":...,
// "statusCode":...}) and counts the answer by status and reason.
func (s *Server) writeError(w http.ResponseWriter, status int, reason, msg string) {
	s.errors.WithLabelValues(strconv.Itoa(status), reason).Inc()
	writeJSON(w, status, dtoCommon.NewBaseResponse("", msg, status))
}

// discard drains a little of an unread body so the connection can be reused.
func discard(r *http.Request) { _, _ = io.CopyN(io.Discard, r.Body, 4<<10) }

package edgex

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	dtoCommon "github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/responses"
)

// MaxCommandBody bounds a command's body; a set-point is a few bytes.
const MaxCommandBody = 4 << 10

// CommandOptions configure a CommandServer. Required unless a default is named.
type CommandOptions struct {
	// Device and Profile: the device commands are accepted for, and the profile named
	// in the events answered.
	Device, Profile string
	// Service names the device service in the ping answer.
	Service string
	// Token, if set, must come as "Authorization: Bearer <token>" with every command.
	Token string
	// SetpointMin and SetpointMax bound accepted set-points.
	SetpointMin, SetpointMax float64
	// Setpoint returns the set-point in force.
	Setpoint func() float64
	// Apply applies a set-point already within bounds and returns the value applied
	// (rounded as the air conditioner takes it).
	Apply func(ctx context.Context, celsius float64) (float64, error)
	// Room returns the latest room readings by resource (nil: none yet).
	Room func() map[string]float64
	// Logger (default: discard).
	Logger *slog.Logger
}

// CommandServer is the device-service side of EdgeX commands, the endpoints
// core-command calls:
//
//	GET /api/v3/ping
//	GET /api/v3/device/name/{device}/setpoint   the set-point in force
//	GET /api/v3/device/name/{device}/room       the latest room readings
//	PUT /api/v3/device/name/{device}/setpoint   body {"setpoint": "24"}
//
// Answers are EdgeX DTOs (EventResponse, BaseResponse). Events returned by GET are
// not pushed to core-data: the periodic events carry the same values.
type CommandServer struct {
	o   CommandOptions
	mux *http.ServeMux
}

// NewCommandServer checks the options and builds the routes.
func NewCommandServer(o CommandOptions) (*CommandServer, error) {
	if o.Device == "" || o.Profile == "" || o.Setpoint == nil || o.Apply == nil || o.Room == nil {
		return nil, errors.New("edgex command server: Device, Profile, Setpoint, Apply and Room are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &CommandServer{o: o, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET "+common.ApiPingRoute, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, dtoCommon.NewPingResponse(o.Service))
	})
	route := common.ApiDeviceRoute + "/name/{device}/{command}"
	s.mux.HandleFunc("GET "+route, s.auth(s.get))
	s.mux.HandleFunc("PUT "+route, s.auth(s.put))
	return s, nil
}

// Handler is the HTTP handler, for tests and for serving on a listener of your own.
func (s *CommandServer) Handler() http.Handler { return s.mux }

// Serve serves on ln until ctx ends, then shuts down, giving requests 5 s.
func (s *CommandServer) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("command endpoint: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}

func (s *CommandServer) auth(next http.HandlerFunc) http.HandlerFunc {
	if s.o.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.o.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next(w, r)
	}
}

func (s *CommandServer) get(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("device") != s.o.Device {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	cmd := r.PathValue("command")
	var values map[string]float64
	switch cmd {
	case ResSetpoint:
		values = map[string]float64{ResSetpoint: s.o.Setpoint()}
	case SourceRoom:
		if values = s.o.Room(); len(values) == 0 {
			writeError(w, http.StatusServiceUnavailable, "no reading taken yet")
			return
		}
	default:
		writeError(w, http.StatusNotFound, "no such command")
		return
	}
	ev := dtos.NewEvent(s.o.Profile, s.o.Device, cmd)
	for _, res := range []string{ResTemperature, ResHumidity, ResSetpoint, ResCPU, ResMem, ResDisk} {
		v, ok := values[res]
		if !ok {
			continue
		}
		br, err := dtos.NewSimpleReading(s.o.Profile, s.o.Device, res, common.ValueTypeFloat64, v)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		br.Origin, br.Units = ev.Origin, Units[res]
		ev.Readings = append(ev.Readings, br)
	}
	writeJSON(w, http.StatusOK, responses.NewEventResponse("", "", http.StatusOK, ev))
}

func (s *CommandServer) put(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("device") != s.o.Device {
		writeError(w, http.StatusNotFound, "no such device")
		return
	}
	if cmd := r.PathValue("command"); cmd != ResSetpoint {
		writeError(w, http.StatusMethodNotAllowed, "only setpoint can be set")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxCommandBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	c, err := DecodeSetpoint(body, s.o.SetpointMin, s.o.SetpointMax)
	if err != nil {
		s.o.Logger.Warn("set-point command refused", "err", err)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	applied, err := s.o.Apply(r.Context(), c)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "apply set-point: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, dtoCommon.NewBaseResponse("", "set-point "+strconv.FormatFloat(applied, 'f', -1, 64)+" C applied", http.StatusOK))
}

// ErrBadCommand is wrapped by DecodeSetpoint's errors.
var ErrBadCommand = errors.New("bad set-point command")

// DecodeSetpoint decodes a set command's body, {"setpoint": "24"}: EdgeX sends
// values as strings, a number is accepted too. The object must name setpoint and
// nothing else, and the value must lie within lo..hi.
func DecodeSetpoint(body []byte, lo, hi float64) (float64, error) {
	if len(body) > MaxCommandBody {
		return 0, fmt.Errorf("%w: body over %d bytes", ErrBadCommand, MaxCommandBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return 0, fmt.Errorf("%w: want a JSON object: %w", ErrBadCommand, err)
	}
	if dec.More() {
		return 0, fmt.Errorf("%w: trailing data after the object", ErrBadCommand)
	}
	for k := range m {
		if k != ResSetpoint {
			return 0, fmt.Errorf("%w: unknown resource %q", ErrBadCommand, trunc(k, 40))
		}
	}
	raw, ok := m[ResSetpoint]
	if !ok {
		return 0, fmt.Errorf("%w: no %q value", ErrBadCommand, ResSetpoint)
	}
	var s string
	switch v := raw.(type) {
	case string:
		s = strings.TrimSpace(v)
	case json.Number:
		s = v.String()
	default:
		return 0, fmt.Errorf("%w: setpoint must be a number or a string holding one", ErrBadCommand)
	}
	c, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(c) || math.IsInf(c, 0) {
		return 0, fmt.Errorf("%w: %q is not a number", ErrBadCommand, trunc(s, 40))
	}
	if c < lo || c > hi {
		return 0, fmt.Errorf("%w: %v is outside %v..%v C", ErrBadCommand, c, lo, hi)
	}
	return c, nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", common.ContentTypeJSON)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, dtoCommon.NewBaseResponse("", msg, code))
}

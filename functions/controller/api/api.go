// Package api is the controller's HTTP API for operators and the dashboard. Every
// answer is JSON; every error is {"error": "..."} with its status.
//
//	GET    /api/v1/state                          the controller and every device
//	POST   /api/v1/devices/{device}/setpoint      manual set-point: {"setpoint": 23, "user": "kim", "reason": "maintenance", "duration": "2h"}
//	DELETE /api/v1/devices/{device}/override      cancel the override: ?user=kim&reason=... (or the same as a JSON body)
//	GET    /api/v1/audit?device=&since=&limit=    the audit trail, newest first
//
// With a token configured, POST and DELETE need "Authorization: Bearer <token>"; the
// GETs stay open (they show nothing secret, and the dashboard reads them).
//
// Status codes: 400 bad input (named), 401 no or wrong token, 404 unknown device or
// no override in force, 405 wrong method, 413 body over MaxBody, 415 body not JSON,
// 502 core-command did not take the set-point, 503 not ready (overrides not restored,
// MongoDB down).
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/audit"
	"github.com/smartx-team/overcloud/functions/controller/loop"
	"github.com/smartx-team/overcloud/functions/controller/policy"
)

// Controller is what the API asks and tells (loop.Controller).
type Controller interface {
	State() loop.State
	SetManual(ctx context.Context, device string, m loop.Manual) (loop.DeviceState, error)
	CancelOverride(ctx context.Context, device, user, reason string) (loop.DeviceState, error)
}

// AuditLog lists the audit trail (audit.Store).
type AuditLog interface {
	List(ctx context.Context, q audit.Query) ([]audit.Entry, error)
}

var (
	_ Controller = (*loop.Controller)(nil)
	_ AuditLog   = (*audit.Store)(nil)
)

// DefaultMaxBody bounds a request body unless Options say otherwise.
const DefaultMaxBody = 4 << 10

// Options configure the API. Controller and Audit are required.
type Options struct {
	Controller Controller
	Audit      AuditLog
	// Token, if set, is the bearer token POST and DELETE need.
	Token string
	// MaxBody bounds a request body (default DefaultMaxBody).
	MaxBody int64
	// Now is the clock, for since=<duration> (default time.Now).
	Now func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
}

// API serves the routes of the package doc. It is safe for concurrent use.
type API struct {
	o   Options
	mux *http.ServeMux
}

// New checks the options and builds the routes.
func New(o Options) (*API, error) {
	if o.Controller == nil || o.Audit == nil {
		return nil, errors.New("api: Controller and Audit are required")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{o: o, mux: http.NewServeMux()}
	a.mux.HandleFunc("/api/v1/state", a.only(http.MethodGet, a.state))
	a.mux.HandleFunc("/api/v1/audit", a.only(http.MethodGet, a.auditList))
	a.mux.HandleFunc("/api/v1/devices/{device}/setpoint", a.only(http.MethodPost, a.auth(a.setpoint)))
	a.mux.HandleFunc("/api/v1/devices/{device}/override", a.only(http.MethodDelete, a.auth(a.cancel)))
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return a, nil
}

// Handler is the API's handler.
func (a *API) Handler() http.Handler { return a.mux }

// only answers 405 to other methods than method (and HEAD for GET).
func (a *API) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+method)
			return
		}
		h(w, r)
	}
}

// auth checks the bearer token, when one is configured.
func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	if a.o.Token == "" {
		return h
	}
	want := []byte("Bearer " + a.o.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="controller"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

func (a *API) state(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.o.Controller.State())
}

func (a *API) setpoint(w http.ResponseWriter, r *http.Request) {
	device := r.PathValue("device")
	body, ok := a.body(w, r, true)
	if !ok {
		return
	}
	req, err := ParseManual(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := a.o.Controller.SetManual(r.Context(), device, loop.Manual{
		Setpoint: req.Setpoint, User: req.User, Reason: req.Reason, Duration: req.Duration,
	})
	a.o.Logger.Info("manual set-point", "device", device, "setpoint", req.Setpoint, "user", req.User, "err", err)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) {
	device := r.PathValue("device")
	body, ok := a.body(w, r, false)
	if !ok {
		return
	}
	var req CancelRequest
	var err error
	if len(body) > 0 {
		req, err = ParseCancel(body)
	} else {
		q := r.URL.Query()
		req, err = checkCancel(CancelRequest{User: q.Get("user"), Reason: q.Get("reason")})
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := a.o.Controller.CancelOverride(r.Context(), device, req.User, req.Reason)
	a.o.Logger.Info("override cancel", "device", device, "user", req.User, "err", err)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) auditList(w http.ResponseWriter, r *http.Request) {
	q, err := ParseAuditQuery(r.URL.Query(), a.o.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	entries, err := a.o.Audit.List(r.Context(), q)
	if err != nil {
		a.o.Logger.Warn("audit list failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "audit trail unavailable: "+err.Error())
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

// body reads a bounded body; a non-empty one must be JSON (415 otherwise). With
// required, an empty body is 400.
func (a *API) body(w http.ResponseWriter, r *http.Request, required bool) ([]byte, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, a.o.MaxBody)
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", a.o.MaxBody))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return nil, false
	}
	if len(b) == 0 {
		if required {
			writeError(w, http.StatusBadRequest, "want a JSON body")
			return nil, false
		}
		return nil, true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "want Content-Type: application/json")
		return nil, false
	}
	return b, true
}

// fail answers an error of the controller with its status.
func (a *API) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, loop.ErrUnknownDevice), errors.Is(err, policy.ErrNoOverride):
		code = http.StatusNotFound
	case errors.Is(err, policy.ErrBounds), errors.Is(err, policy.ErrDuration):
		code = http.StatusBadRequest
	case errors.Is(err, loop.ErrApply):
		code = http.StatusBadGateway
	case errors.Is(err, loop.ErrNotReady), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	writeError(w, code, err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

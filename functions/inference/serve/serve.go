// Package serve is inference's HTTP API, TensorFlow Serving's REST API over the
// models of a registry:
//
//	POST /v1/models/{name}[/versions/{v}]:predict        predict (package wire for the bodies)
//	GET  /v1/models/{name}[/versions/{v}]                model version status
//	GET  /v1/models/{name}[/versions/{v}]/metadata       signature and, in "smartx", features, outputs, horizon
//
// Without /versions/{v}, predict and metadata use the latest loaded version, and the
// status lists every version found. TF-Serving's /labels/{label} form is refused with
// 404: this server assigns no labels. :classify and :regress are refused with 400:
// the models have only the predict signature.
//
// Every error is TF-Serving's {"error": "<message>"} with a status: 400 for a request
// that is not a valid predict request (not JSON, wrong shape, NaN, missing input,
// unknown signature), 404 for an unknown model, version or path, 405 for a wrong
// method (with Allow), 413 for a body over Options.MaxBodyBytes. Each refusal is
// counted in inference_requests_rejected_total{reason}.
//
// A Handler is safe for concurrent use; it holds no goroutine.
package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/inference/registry"
	"github.com/smartx-team/overcloud/functions/inference/wire"
	"github.com/smartx-team/overcloud/functions/model"
)

// DefaultMaxBodyBytes is the largest predict body accepted unless Options say.
const DefaultMaxBodyBytes = 1 << 20

// Models is what the API serves: a registry.Registry.
type Models interface {
	// Model returns the model of version (0: the latest loaded) of name; the error
	// wraps registry.ErrUnknownModel or registry.ErrUnknownVersion.
	Model(name string, version int64) (*model.Model, error)
	// Versions lists every version of name found, loaded or not, ascending; the
	// error wraps registry.ErrUnknownModel.
	Versions(name string) ([]registry.Version, error)
}

// Options configure a Handler.
type Options struct {
	// MaxBodyBytes is the largest request body read (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Logger receives refused requests at debug level (default: discard).
	Logger *slog.Logger
	// Registerer takes the metrics (default: a private registry).
	Registerer prometheus.Registerer
}

// Rejection reasons beyond those of package wire, as counted.
const (
	ReasonTooLarge       = "too_large"
	ReasonUnknownModel   = "unknown_model"
	ReasonUnknownVersion = "unknown_version"
	ReasonLabel          = "label"
	ReasonUnsupported    = "unsupported_api"
	ReasonNotFound       = "not_found"
	ReasonMethod         = "method_not_allowed"
	ReasonReadError      = "read_error"
	ReasonInternal       = "internal"
)

// reasons are every reason counted, set to 0 at start so that each series exists.
var reasons = []string{
	string(wire.NotJSON), string(wire.BadRequest), string(wire.MissingInput), string(wire.BadShape),
	string(wire.NotFinite), string(wire.UnknownSignature),
	ReasonTooLarge, ReasonUnknownModel, ReasonUnknownVersion, ReasonLabel, ReasonUnsupported,
	ReasonNotFound, ReasonMethod, ReasonReadError, ReasonInternal,
}

// APIs, as the request duration histogram labels them.
const (
	apiPredict  = "predict"
	apiStatus   = "status"
	apiMetadata = "metadata"
	apiOther    = "other"
)

// Handler serves the API; see the package doc.
type Handler struct {
	models  Models
	maxBody int64
	log     *slog.Logger

	predictions *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rejected    *prometheus.CounterVec

	bodies    sync.Pool // *bytes.Buffer, for request bodies
	responses sync.Pool // *[]byte, for predict responses
}

// New returns the API over models.
func New(models Models, opts Options) (*Handler, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	h := &Handler{
		models: models, maxBody: opts.MaxBodyBytes, log: opts.Logger,
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inference_predictions_total", Help: "Windows predicted, by model.",
		}, []string{"model"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "inference_request_duration_seconds", Help: "Time to answer a request of the REST API, from its headers to the last byte written, by API and status code.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		}, []string{"api", "code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inference_requests_rejected_total", Help: "Requests refused, by reason.",
		}, []string{"reason"}),
	}
	h.bodies.New = func() any { return new(bytes.Buffer) }
	h.responses.New = func() any { return new([]byte) }
	for _, c := range []prometheus.Collector{h.predictions, h.duration, h.rejected} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register the API metrics: %w", err)
		}
	}
	for _, r := range reasons {
		h.rejected.WithLabelValues(r)
	}
	return h, nil
}

// NewServer returns an HTTP server of h with the timeouts a server facing a network
// needs; run it with service.Serve.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// apiError is a refusal: the status, the counted reason and the message.
type apiError struct {
	status int
	reason string
	msg    string
	allow  string // for 405
}

func (e *apiError) Error() string { return e.msg }

// route is what a request path asks for.
type route struct {
	api     string
	name    string
	version int64 // 0: the latest
}

const prefix = "/v1/models/"

// parseRoute reads the path of a request of method.
func parseRoute(method, path string) (route, *apiError) {
	malformed := &apiError{status: http.StatusNotFound, reason: ReasonNotFound, msg: "Malformed request: " + method + " " + path}
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		return route{}, malformed
	}
	verb := ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "/") {
		rest, verb = rest[:i], rest[i+1:]
	}
	segs := strings.Split(rest, "/")
	rt := route{name: segs[0]}
	if rt.name == "" {
		return route{}, malformed
	}
	segs = segs[1:]
	label := ""
	if len(segs) >= 2 {
		switch segs[0] {
		case "versions":
			v, err := strconv.ParseInt(segs[1], 10, 64)
			if err != nil || v < 1 || segs[1][0] == '+' {
				return route{}, &apiError{status: http.StatusNotFound, reason: ReasonUnknownVersion,
					msg: fmt.Sprintf("version %q of model %q: a version is a positive integer", segs[1], rt.name)}
			}
			rt.version, segs = v, segs[2:]
		case "labels":
			label, segs = segs[1], segs[2:]
		}
	}
	switch {
	case verb == "predict" && len(segs) == 0:
		rt.api = apiPredict
	case (verb == "classify" || verb == "regress") && len(segs) == 0:
		return route{}, &apiError{status: http.StatusBadRequest, reason: ReasonUnsupported,
			msg: fmt.Sprintf("model %q has no %s signature: only %s (method %s)", rt.name, verb, wire.SignatureName, wire.MethodName)}
	case verb == "" && len(segs) == 0:
		rt.api = apiStatus
	case verb == "" && len(segs) == 1 && segs[0] == "metadata":
		rt.api = apiMetadata
	default:
		return route{}, malformed
	}
	want := http.MethodGet
	if rt.api == apiPredict {
		want = http.MethodPost
	}
	if method != want {
		return route{}, &apiError{status: http.StatusMethodNotAllowed, reason: ReasonMethod, allow: want,
			msg: fmt.Sprintf("method %s not allowed for %s: use %s", method, path, want)}
	}
	if label != "" {
		return route{}, &apiError{status: http.StatusNotFound, reason: ReasonLabel,
			msg: fmt.Sprintf("version label %q of model %q not found: this server assigns no labels; ask for /versions/<n>, or for neither to get the latest", label, rt.name)}
	}
	return rt, nil
}

// ServeHTTP answers one request of the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt, aerr := parseRoute(r.Method, r.URL.Path)
	api := rt.api
	if aerr != nil {
		api = apiOther
	} else {
		switch rt.api {
		case apiPredict:
			aerr = h.predict(w, r, rt)
		case apiStatus:
			aerr = h.status(w, rt)
		case apiMetadata:
			aerr = h.metadata(w, rt)
		}
	}
	code := http.StatusOK
	if aerr != nil {
		code = aerr.status
		h.refuse(w, r, aerr)
	}
	h.duration.WithLabelValues(api, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, e *apiError) {
	h.rejected.WithLabelValues(e.reason).Inc()
	h.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", e.status, "reason", e.reason, "err", e.msg)
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	writeJSON(w, e.status, wire.AppendError(nil, e.msg))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client gone is not our error
}

// lookup returns the model a route asks for.
func (h *Handler) lookup(rt route) (*model.Model, *apiError) {
	m, err := h.models.Model(rt.name, rt.version)
	switch {
	case err == nil:
		return m, nil
	case errors.Is(err, registry.ErrUnknownModel):
		return nil, &apiError{status: http.StatusNotFound, reason: ReasonUnknownModel, msg: servable(rt) + ": " + err.Error()}
	default:
		return nil, &apiError{status: http.StatusNotFound, reason: ReasonUnknownVersion, msg: servable(rt) + ": " + err.Error()}
	}
}

// servable names what was asked for as TF-Serving does: Latest(name) or
// Specific(name, v).
func servable(rt route) string {
	if rt.version == 0 {
		return "Servable not found for request: Latest(" + rt.name + ")"
	}
	return fmt.Sprintf("Servable not found for request: Specific(%s, %d)", rt.name, rt.version)
}

// maxPooled is the largest buffer kept for reuse: what most requests need.
const maxPooled = 256 << 10

func (h *Handler) getBody() *bytes.Buffer {
	b := h.bodies.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func (h *Handler) putBody(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		h.bodies.Put(b)
	}
}

func (h *Handler) predict(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	m, aerr := h.lookup(rt)
	if aerr != nil {
		return aerr
	}
	tooLarge := func() *apiError {
		return &apiError{status: http.StatusRequestEntityTooLarge, reason: ReasonTooLarge,
			msg: fmt.Sprintf("the request body is larger than %d bytes", h.maxBody)}
	}
	if r.ContentLength > h.maxBody {
		return tooLarge()
	}
	body := h.getBody()
	defer h.putBody(body)
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge()
		}
		return &apiError{status: http.StatusBadRequest, reason: ReasonReadError, msg: "reading the request body: " + err.Error()}
	}
	req, err := wire.Parse(body.Bytes(), wire.ShapeOf(m))
	if err != nil {
		return wireError(err)
	}
	outs := make([][]float64, len(req.Windows))
	for i, win := range req.Windows {
		if outs[i], err = m.Predict(win); err != nil { // Parse checked the shape and values
			return &apiError{status: http.StatusBadRequest, reason: string(wire.BadShape), msg: fmt.Sprintf("instance %d: %v", i, err)}
		}
	}
	resp := h.responses.Get().(*[]byte)
	b, err := wire.AppendResponse((*resp)[:0], req.Format, outs)
	defer func() {
		if cap(b) <= maxPooled {
			*resp = b
			h.responses.Put(resp)
		}
	}()
	if err != nil {
		return wireError(err)
	}
	h.predictions.WithLabelValues(rt.name).Add(float64(len(outs)))
	writeJSON(w, http.StatusOK, b)
	return nil
}

func wireError(err error) *apiError {
	e, ok := errors.AsType[*wire.Error](err)
	if !ok {
		return &apiError{status: http.StatusBadRequest, reason: string(wire.BadRequest), msg: err.Error()}
	}
	return &apiError{status: http.StatusBadRequest, reason: string(e.Reason), msg: e.Msg}
}

func (h *Handler) status(w http.ResponseWriter, rt route) *apiError {
	vs, err := h.models.Versions(rt.name)
	if err != nil {
		return &apiError{status: http.StatusNotFound, reason: ReasonUnknownModel,
			msg: "Could not find any versions of model " + rt.name}
	}
	var st wire.ModelStatus
	for _, v := range slices.Backward(vs) { // newest first
		if rt.version != 0 && v.Number != rt.version {
			continue
		}
		st.ModelVersionStatus = append(st.ModelVersionStatus, versionStatus(v))
	}
	if len(st.ModelVersionStatus) == 0 {
		return &apiError{status: http.StatusNotFound, reason: ReasonUnknownVersion,
			msg: fmt.Sprintf("Could not find version %d of model %s", rt.version, rt.name)}
	}
	return h.writeValue(w, st)
}

// versionStatus is TF-Serving's status of a version: AVAILABLE and OK when it
// serves, END with the load error when it failed.
func versionStatus(v registry.Version) wire.VersionStatus {
	s := wire.VersionStatus{Version: strconv.FormatInt(v.Number, 10), State: wire.StateAvailable, Status: wire.Status{ErrorCode: wire.CodeOK}}
	if !v.Available() {
		s.State = wire.StateEnd
		s.Status.ErrorMessage = fmt.Sprint(v.Err)
		switch {
		case errors.Is(v.Err, model.ErrInvalid):
			s.Status.ErrorCode = wire.CodeInvalidArgument
		case errors.Is(v.Err, fs.ErrNotExist):
			s.Status.ErrorCode = wire.CodeNotFound
		default:
			s.Status.ErrorCode = wire.CodeUnknown
		}
	}
	return s
}

func (h *Handler) metadata(w http.ResponseWriter, rt route) *apiError {
	m, aerr := h.lookup(rt)
	if aerr != nil {
		return aerr
	}
	return h.writeValue(w, wire.NewMetadata(rt.name, m))
}

// writeValue writes v as indented JSON, as TF-Serving writes status and metadata.
func (h *Handler) writeValue(w http.ResponseWriter, v any) *apiError {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil { // our own types always marshal
		return &apiError{status: http.StatusInternalServerError, reason: ReasonInternal, msg: fmt.Sprintf("marshal %T: %v", v, err)}
	}
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return nil
}

// Package tfserving is the controller's client of a model server speaking TF-Serving's
// REST API (https://www.tensorflow.org/tfx/serving/api_rest): our inference function,
// or a real TF-Serving.
//
//	GET  {url}/v1/models/{name}/metadata               -> the model's Signature
//	POST {url}/v1/models/{name}/versions/{v}:predict   {"instances": [...]} -> {"predictions": [...]}
//
// # What the metadata must carry
//
// TF-Serving's metadata answer (GetModelMetadataResponse in JSON) names the model and
// its version, and describes tensors, not what the numbers mean. The controller needs
// the meaning, so it expects one more entry in the answer's "metadata" map, named
// MetadataField ("smartx"), holding the model's signature as functions/model writes it:
//
//	{
//	  "model_spec": {"name": "service", "signature_name": "", "version": "3"},
//	  "metadata": {
//	    "signature_def": { ... TF-Serving's own, not read ... },
//	    "smartx": {
//	      "features": ["ext_humidity", "ext_temperature", "humidity", "setpoint", "weather"],
//	      "steps": 6,
//	      "outputs": ["temperature", "humidity"],
//	      "horizon": 1,
//	      "step_seconds": 600,
//	      "trained_at": "2026-11-20T03:00:00Z"
//	    }
//	  }
//	}
//
// trained_at is optional (without it a model's age is not checked). The version may be
// a string, as TF-Serving writes int64, or a number. This shape is read by one type,
// metadataJSON, in metadata.go: adjust it there if the inference server's differs.
//
// # Predictions
//
// One instance is a window, Steps rows of len(Features) numbers, oldest first. The
// answer holds one prediction per instance, in order, each a list of numbers in the
// order of Outputs, a single number for a one-output model, or an object keyed by output
// name (a real TF-Serving model with named outputs). NaN, Infinity and -Infinity, which
// TF-Serving writes as bare tokens, are read as such, for the policy to refuse.
package tfserving

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

// Errors a caller branches on; every error of the client wraps one of them.
var (
	// ErrUnavailable: no answer, or a 5xx (the server is down or failing).
	ErrUnavailable = errors.New("inference unavailable")
	// ErrNoModel: the server has no such model or version (404).
	ErrNoModel = errors.New("no such model")
	// ErrRejected: the server refused the request (4xx other than 404).
	ErrRejected = errors.New("inference refused the request")
	// ErrMalformed: the answer is not what the API documents.
	ErrMalformed = errors.New("malformed inference answer")
	// ErrBadSignature: the metadata lacks our signature, or it is unusable.
	ErrBadSignature = errors.New("unusable model signature")
)

// MaxResponse bounds an answer's body.
const MaxResponse = 8 << 20

// Options configure a Client.
type Options struct {
	// URL is the server's base URL, e.g. http://inference:8501 (required).
	URL string
	// Model is the model's name (default "service", the original's).
	Model string
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// HTTPClient (default: a client of its own with Timeout).
	HTTPClient *http.Client
}

// Client asks one model of one server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	model string
	http  *http.Client
}

// New checks the options; it does not connect.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tfserving: URL %q: want http(s)://host[:port]", o.URL)
	}
	if o.Model == "" {
		o.Model = "service"
	}
	if strings.ContainsAny(o.Model, "/:?#% ") {
		return nil, fmt.Errorf("tfserving: model name %q", o.Model)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	return &Client{base: u, model: o.Model, http: hc}, nil
}

// Model is the name of the model asked.
func (c *Client) Model() string { return c.model }

// Metadata fetches the model's signature (of the newest version the server has).
func (c *Client) Metadata(ctx context.Context) (Signature, error) {
	body, err := c.do(ctx, http.MethodGet, "/v1/models/"+c.model+"/metadata", nil)
	if err != nil {
		return Signature{}, err
	}
	sig, err := ParseMetadata(body)
	if err != nil {
		return Signature{}, err
	}
	if sig.Name != c.model {
		return Signature{}, fmt.Errorf("%w: metadata of model %q, asked for %q", ErrMalformed, sig.Name, c.model)
	}
	return sig, nil
}

// Predict asks the model version of sig about the instances (each sig.Steps rows of
// len(sig.Features) finite numbers) and returns one row of len(sig.Outputs) numbers per
// instance, in the order of sig.Outputs. Numbers may be NaN or infinite: the caller
// judges them.
func (c *Client) Predict(ctx context.Context, sig Signature, instances [][][]float64) ([][]float64, error) {
	for i, inst := range instances {
		if err := sig.checkInstance(inst); err != nil {
			return nil, fmt.Errorf("tfserving: instance %d: %w", i, err)
		}
	}
	req, err := json.Marshal(map[string]any{"instances": instances})
	if err != nil {
		return nil, fmt.Errorf("tfserving: encode instances: %w", err)
	}
	path := "/v1/models/" + c.model
	if sig.Version > 0 {
		// Pinned: the window was built for this version's features.
		path += "/versions/" + strconv.FormatInt(sig.Version, 10)
	}
	body, err := c.do(ctx, http.MethodPost, path+":predict", req)
	if err != nil {
		return nil, err
	}
	return ParsePredictions(body, len(instances), sig.Outputs)
}

// do sends one request and returns the body of a 200, or an error wrapping one of the
// package's errors (with the server's {"error": ...} message if it sent one).
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	u := *c.base
	u.Path += path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("tfserving: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrUnavailable, method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: read answer: %w", ErrUnavailable, method, path, err)
	}
	if len(b) > MaxResponse {
		return nil, fmt.Errorf("%w: %s %s: answer over %d bytes", ErrMalformed, method, path, MaxResponse)
	}
	if resp.StatusCode == http.StatusOK {
		return b, nil
	}
	kind := ErrRejected
	switch {
	case resp.StatusCode == http.StatusNotFound:
		kind = ErrNoModel
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		kind = ErrUnavailable
	case resp.StatusCode < 400:
		kind = ErrMalformed
	}
	return nil, fmt.Errorf("%w: %s %s: %s%s", kind, method, path, resp.Status, serverMessage(b))
}

// serverMessage is ": <message>" of a TF-Serving error body {"error": "..."}, or "".
func serverMessage(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		return ""
	}
	msg := e.Error
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return ": " + msg
}

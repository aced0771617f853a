package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

// AppendResponse appends the response to a predict request of format f to dst:
// {"predictions": [[...], ...]} for Row, {"outputs": [[...], ...]} for Columnar, one
// row per window of outputs, and a newline. JSON has no NaN or infinity, so a value
// that is not finite (a window far outside what the model knows can overflow) is an
// *Error with reason NotFinite, naming the instance.
func AppendResponse(dst []byte, f Format, outputs [][]float64) ([]byte, error) {
	key := `{"predictions":[`
	if f == Columnar {
		key = `{"outputs":[`
	}
	dst = append(dst, key...)
	for i, row := range outputs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return dst, &Error{Reason: NotFinite, Msg: fmt.Sprintf("instance %d: the prediction is %v: the window is far outside the range of the model", i, v)}
			}
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendFloat(dst, v)
		}
		dst = append(dst, ']')
	}
	return append(dst, "]}\n"...), nil
}

// appendFloat writes a finite v as encoding/json does: the shortest decimal that reads
// back as v, in exponent form only for very small or large magnitudes.
func appendFloat(dst []byte, v float64) []byte {
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, v, format, -1, 64)
}

// ErrorBody is TF-Serving's body of every error: {"error": "<message>"}.
type ErrorBody struct {
	Error string `json:"error"`
}

// AppendError appends the error body for msg, and a newline, to dst.
func AppendError(dst []byte, msg string) []byte {
	b, _ := json.Marshal(ErrorBody{Error: msg}) // a struct of one string always marshals
	return append(append(dst, b...), '\n')
}

// Model version states, as TF-Serving names them. We use two: a version that serves
// is AVAILABLE; one that failed to load is END, with the error in its status.
const (
	StateAvailable = "AVAILABLE"
	StateEnd       = "END"
)

// Error codes of a version status, as TF-Serving names them (gRPC codes).
const (
	CodeOK              = "OK"
	CodeInvalidArgument = "INVALID_ARGUMENT" // the model is not valid (model.ErrInvalid)
	CodeNotFound        = "NOT_FOUND"        // the version has no model file
	CodeUnknown         = "UNKNOWN"          // any other load failure
)

// ModelStatus is the body of GET /v1/models/{name}[/versions/{v}], TF-Serving's
// GetModelStatusResponse.
type ModelStatus struct {
	ModelVersionStatus []VersionStatus `json:"model_version_status"`
}

// VersionStatus is the status of one version.
type VersionStatus struct {
	Version string `json:"version"` // a decimal integer, as proto3 JSON writes an int64
	State   string `json:"state"`
	Status  Status `json:"status"`
}

// Status is the outcome of loading a version.
type Status struct {
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
}

// Metadata is the body of GET /v1/models/{name}[/versions/{v}]/metadata: TF-Serving's
// GetModelMetadataResponse, whose "metadata" is a map of metadata fields. TF-Serving
// fills one field, "signature_def"; we add a second, "smartx" (MetadataField), with
// what the controller needs to build windows, which a TF-Serving client ignores:
//
//	{"model_spec": {"name": "service", "signature_name": "", "version": "3"},
//	 "metadata": {"signature_def": {"signature_def": {"serving_default": {...}}},
//	              "smartx": {"features": [...], "steps": 6, "outputs": [...],
//	                         "horizon": 1, "step_seconds": 600, ...}}}
type Metadata struct {
	ModelSpec ModelSpec      `json:"model_spec"`
	Metadata  MetadataFields `json:"metadata"`
}

// MetadataField is the name of our entry in the metadata map.
const MetadataField = "smartx"

// ModelSpec names the model version that answers.
type ModelSpec struct {
	Name          string `json:"name"`
	SignatureName string `json:"signature_name"`
	Version       string `json:"version"`
}

// MetadataFields are the entries of the metadata map: TF-Serving's signature_def
// ({"signature_def": {name: def}}, as it writes its SignatureDefMap) and ours.
type MetadataFields struct {
	SignatureDef SignatureDefMap `json:"signature_def"`
	Smartx       SmartxMetadata  `json:"smartx"`
}

// SignatureDefMap maps signature names to their definitions.
type SignatureDefMap struct {
	SignatureDef map[string]SignatureDef `json:"signature_def"`
}

// SignatureDef is one signature: its named input and output tensors.
type SignatureDef struct {
	Inputs     map[string]TensorInfo `json:"inputs"`
	Outputs    map[string]TensorInfo `json:"outputs"`
	MethodName string                `json:"method_name"`
}

// TensorInfo is a tensor's type and shape; a size of -1 is the batch dimension.
type TensorInfo struct {
	Dtype       string      `json:"dtype"`
	TensorShape TensorShape `json:"tensor_shape"`
	Name        string      `json:"name"`
}

// TensorShape lists the dimensions of a tensor.
type TensorShape struct {
	Dim         []Dim `json:"dim"`
	UnknownRank bool  `json:"unknown_rank"`
}

// Dim is one dimension; Size is a decimal integer, as proto3 JSON writes an int64.
type Dim struct {
	Size string `json:"size"`
	Name string `json:"name"`
}

// SmartxMetadata is what a client needs to build windows and read the outputs, which
// TF-Serving's metadata cannot say: the names of the features of a step (in order),
// of the outputs, and how far ahead (Horizon steps of StepSeconds) they are.
type SmartxMetadata struct {
	Format      string   `json:"format"`
	Name        string   `json:"name"`
	Version     int64    `json:"version"`
	Steps       int      `json:"steps"`
	Features    []string `json:"features"`
	Outputs     []string `json:"outputs"`
	Horizon     int      `json:"horizon"`
	StepSeconds float64  `json:"step_seconds"`
	// TrainedAt is when the model was fitted, when it says (RFC 3339).
	TrainedAt string `json:"trained_at,omitempty"`
}

// NewMetadata is the metadata of m, served under the name name.
func NewMetadata(name string, m *model.Model) Metadata {
	dims := func(sizes ...int) TensorShape {
		s := TensorShape{}
		for _, n := range sizes {
			s.Dim = append(s.Dim, Dim{Size: strconv.Itoa(n)})
		}
		return s
	}
	return Metadata{
		ModelSpec: ModelSpec{Name: name, Version: strconv.FormatInt(m.Version, 10)},
		Metadata: MetadataFields{SignatureDef: SignatureDefMap{SignatureDef: map[string]SignatureDef{
			SignatureName: {
				Inputs:     map[string]TensorInfo{InputName: {Dtype: "DT_DOUBLE", TensorShape: dims(-1, m.Steps, len(m.Features)), Name: InputName}},
				Outputs:    map[string]TensorInfo{OutputName: {Dtype: "DT_DOUBLE", TensorShape: dims(-1, len(m.Outputs)), Name: OutputName}},
				MethodName: MethodName,
			},
		}},
			Smartx: SmartxMetadata{
				Format: m.Format, Name: m.Name, Version: m.Version, Steps: m.Steps,
				Features: m.Features, Outputs: m.Outputs, Horizon: m.Horizon, StepSeconds: m.StepSeconds,
				TrainedAt: trainedAt(m.TrainedAt),
			},
		},
	}
}

func trainedAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

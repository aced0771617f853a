package edgexbus

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
)

// MaxPayload bounds a message the decoder looks at.
const MaxPayload = 1 << 20

// envelope is the JSON form of go-mod-messaging's types.MessageEnvelope (EdgeX 3 and
// 4). Payload is kept raw: EdgeX 3, and EdgeX 4 with EDGEX_MSG_BASE64_PAYLOAD=true,
// send it base64 in a JSON string (the bytes of the content type's encoding); EdgeX 4
// by default sends a JSON payload as a JSON value.
type envelope struct {
	APIVersion    string          `json:"apiVersion"`
	ReceivedTopic string          `json:"receivedTopic"`
	CorrelationID string          `json:"correlationID"`
	RequestID     string          `json:"requestID"`
	ErrorCode     int             `json:"errorCode"`
	Payload       json.RawMessage `json:"payload"`
	ContentType   string          `json:"contentType"`

	// Present when the message is a bare AddEventRequest or a bare Event instead.
	Event    json.RawMessage `json:"event,omitempty"`
	Readings json.RawMessage `json:"readings,omitempty"`
}

// DecodeEnvelope turns a message-bus payload into a validated AddEventRequest. It
// accepts, in this order:
//
//   - an EdgeX message envelope whose payload is an AddEventRequest, either as a JSON
//     value (EdgeX 4 default) or base64 in a JSON string (EdgeX 3; EdgeX 4 with
//     EDGEX_MSG_BASE64_PAYLOAD=true), encoded as JSON or CBOR per its contentType;
//   - a bare AddEventRequest ({"apiVersion":..., "event": {...}});
//   - a bare Event ({"id":..., "deviceName":..., "readings": [...]}).
//
// Validation is EdgeX's own. On failure reason is intake.ReasonUndecodable (not an
// EdgeX event) or intake.ReasonInvalid (an event EdgeX's contract refuses); the error
// never quotes the payload.
func DecodeEnvelope(b []byte) (requests.AddEventRequest, intake.Reason, error) {
	var req requests.AddEventRequest
	if len(b) > MaxPayload {
		return req, intake.ReasonUndecodable, fmt.Errorf("message of %d bytes, limit %d", len(b), MaxPayload)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return req, intake.ReasonUndecodable, errors.New("not a JSON object")
	}
	switch {
	case isSet(env.Payload):
		if env.ErrorCode != 0 {
			return req, intake.ReasonUndecodable, fmt.Errorf("envelope carries error code %d", env.ErrorCode)
		}
		return decodePayload(env.Payload, env.ContentType)
	case isSet(env.Event):
		return decodeRequest(b)
	case isSet(env.Readings):
		var ev dtos.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			return req, intake.ReasonUndecodable, errors.New("not an EdgeX event")
		}
		req = requests.AddEventRequest{Event: ev}
		req.ApiVersion = common.ApiVersion
		if err := req.Validate(); err != nil {
			return req, intake.ReasonInvalid, fmt.Errorf("invalid event: %w", err)
		}
		if err := normalize(&req); err != nil {
			return req, intake.ReasonInvalid, err
		}
		return req, "", nil
	default:
		return req, intake.ReasonUndecodable, errors.New("neither an EdgeX message envelope nor an event")
	}
}

func isSet(raw json.RawMessage) bool { return len(raw) > 0 && !bytes.Equal(raw, []byte("null")) }

func decodePayload(raw json.RawMessage, contentType string) (requests.AddEventRequest, intake.Reason, error) {
	var req requests.AddEventRequest
	mt := common.ContentTypeJSON
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return req, intake.ReasonUndecodable, errors.New("unreadable envelope contentType")
		}
	}
	if mt != common.ContentTypeJSON && mt != common.ContentTypeCBOR {
		return req, intake.ReasonUndecodable, fmt.Errorf("envelope contentType %q is not JSON or CBOR", clip(mt))
	}
	data := []byte(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return req, intake.ReasonUndecodable, errors.New("envelope payload is a malformed string")
		}
		var err error
		if data, err = base64.StdEncoding.DecodeString(s); err != nil {
			return req, intake.ReasonUndecodable, errors.New("envelope payload string is not base64")
		}
	} else if mt == common.ContentTypeCBOR {
		return req, intake.ReasonUndecodable, errors.New("a CBOR payload must be base64 in a JSON string")
	}
	if mt == common.ContentTypeCBOR {
		if err := req.UnmarshalCBOR(data); err != nil {
			return req, reasonOf(err), fmt.Errorf("CBOR payload: %w", err)
		}
		return req, "", nil
	}
	return decodeRequest(data)
}

// decodeRequest decodes JSON with EdgeX's AddEventRequest.UnmarshalJSON, which
// validates and normalizes value types.
func decodeRequest(data []byte) (requests.AddEventRequest, intake.Reason, error) {
	var req requests.AddEventRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return req, reasonOf(err), fmt.Errorf("payload: %w", err)
	}
	return req, "", nil
}

// normalize puts value types in EdgeX's canonical spelling, as UnmarshalJSON does.
func normalize(req *requests.AddEventRequest) error {
	for i, r := range req.Event.Readings {
		vt, err := common.NormalizeValueType(r.ValueType)
		if err != nil {
			return fmt.Errorf("reading %d: %w", i, err)
		}
		req.Event.Readings[i].ValueType = vt
	}
	return nil
}

// reasonOf tells JSON of the wrong shape from an event EdgeX's validation refuses.
func reasonOf(err error) intake.Reason {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	if errors.As(err, &typeErr) || errors.As(err, &syntaxErr) {
		return intake.ReasonUndecodable
	}
	return intake.ReasonInvalid
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Envelope wraps req in an EdgeX message envelope as EdgeX publishes events: with the
// AddEventRequest as a JSON value (EdgeX 4's default), or, if base64Payload, as base64
// of its JSON in a string (EdgeX 3, or EdgeX 4 with EDGEX_MSG_BASE64_PAYLOAD=true).
// Simulators and tests use it to publish what a real EdgeX would.
func Envelope(req requests.AddEventRequest, base64Payload bool) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("edgexbus: encode event: %w", err)
	}
	payload := json.RawMessage(body)
	if base64Payload {
		s, _ := json.Marshal(base64.StdEncoding.EncodeToString(body))
		payload = s
	}
	return json.Marshal(envelope{
		APIVersion:    common.ApiVersion,
		CorrelationID: uuid.NewString(),
		Payload:       payload,
		ContentType:   common.ContentTypeJSON,
	})
}

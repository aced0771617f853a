package edgexbus

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
)

// testEvent is an EdgeX event of one Float64 reading, as a device service makes it.
func testEvent(device string) dtos.Event {
	ev := dtos.NewEvent("room-sensor", device, "room")
	if err := ev.AddSimpleReading("temperature", common.ValueTypeFloat64, 21.5); err != nil {
		panic(err)
	}
	ev.Readings[0].Id = uuid.NewString()
	return ev
}

// envelopeJSON is an EdgeX 4 envelope with the AddEventRequest as a JSON value.
func envelopeJSON(req requests.AddEventRequest) []byte {
	b, err := Envelope(req, false)
	if err != nil {
		panic(err)
	}
	return b
}

// envelopeBase64 is an EdgeX 3 envelope (or EdgeX 4 with EDGEX_MSG_BASE64_PAYLOAD):
// the payload bytes in base64, JSON or CBOR by contentType.
func envelopeBase64(payload []byte, contentType string) []byte {
	return mustMarshal(map[string]any{
		"apiVersion": "v3", "correlationID": uuid.NewString(), "errorCode": 0,
		"payload": base64.StdEncoding.EncodeToString(payload), "contentType": contentType,
	})
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeEnvelope(t *testing.T) {
	ev := testEvent("pi-1")
	req := requests.NewAddEventRequest(ev)
	reqJSON := mustMarshal(req)
	reqCBOR, err := cbor.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	invalid := requests.NewAddEventRequest(dtos.NewEvent("p", "pi-1", "s")) // no readings
	tests := []struct {
		name   string
		msg    []byte
		reason intake.Reason
	}{
		{name: "EdgeX 4 envelope, JSON payload", msg: envelopeJSON(req)},
		{name: "EdgeX 4 envelope by hand", msg: mustMarshal(map[string]any{
			"apiVersion": "v3", "receivedTopic": "", "correlationID": uuid.NewString(), "requestID": "",
			"errorCode": 0, "payload": req, "contentType": common.ContentTypeJSON,
		})},
		{name: "EdgeX 3 envelope, base64 JSON payload", msg: envelopeBase64(reqJSON, common.ContentTypeJSON)},
		{name: "envelope, base64 CBOR payload", msg: envelopeBase64(reqCBOR, common.ContentTypeCBOR)},
		{name: "envelope without contentType", msg: envelopeBase64(reqJSON, "")},
		{name: "bare AddEventRequest", msg: reqJSON},
		{name: "bare Event", msg: mustMarshal(ev)},
		{name: "not JSON", msg: []byte("temperature=21.5"), reason: intake.ReasonUndecodable},
		{name: "JSON of something else", msg: []byte(`{"hello": "world"}`), reason: intake.ReasonUndecodable},
		{name: "payload not base64", msg: []byte(`{"payload": "%%%", "contentType": "application/json"}`), reason: intake.ReasonUndecodable},
		{name: "payload of another content type", msg: envelopeBase64(reqJSON, "application/xml"), reason: intake.ReasonUndecodable},
		{name: "envelope with an error code", msg: []byte(`{"errorCode": 1, "payload": "b29wcw==", "contentType": "text/plain"}`), reason: intake.ReasonUndecodable},
		{name: "payload JSON broken", msg: envelopeBase64([]byte(`{"event":`), common.ContentTypeJSON), reason: intake.ReasonUndecodable},
		{name: "event EdgeX refuses", msg: envelopeJSON(invalid), reason: intake.ReasonInvalid},
		{name: "bare event EdgeX refuses", msg: mustMarshal(invalid.Event), reason: intake.ReasonUndecodable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := DecodeEnvelope(tt.msg)
			if reason != tt.reason {
				t.Fatalf("reason %q (%v), want %q", reason, err, tt.reason)
			}
			if tt.reason != "" {
				if err == nil {
					t.Fatal("refused without an error")
				}
				if strings.Contains(err.Error(), "21.5") || strings.Contains(err.Error(), "temperature=") {
					t.Errorf("error %q quotes the payload", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Event.Id != ev.Id || got.Event.DeviceName != "pi-1" || len(got.Event.Readings) != 1 ||
				got.Event.Readings[0].Value != ev.Readings[0].Value || got.Event.Readings[0].ValueType != common.ValueTypeFloat64 {
				t.Errorf("decoded %+v, want the event %+v", got.Event, ev)
			}
		})
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	req := requests.NewAddEventRequest(testEvent("pi-1"))
	f.Add(envelopeJSON(req))
	f.Add(envelopeBase64(mustMarshal(req), common.ContentTypeJSON))
	if b, err := cbor.Marshal(req); err == nil {
		f.Add(envelopeBase64(b, common.ContentTypeCBOR))
	}
	f.Add(mustMarshal(req.Event))
	f.Add([]byte(`{"payload":null,"readings":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, reason, err := DecodeEnvelope(b)
		if (err == nil) != (reason == "") {
			t.Fatalf("reason %q with error %v", reason, err)
		}
		if err != nil {
			return
		}
		// What is accepted passes EdgeX's own validation and converts without panic.
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted an event EdgeX refuses: %v", err)
		}
		conv := intake.Convert(got.Event, "", nil)
		if len(conv.Readings)+len(conv.Rejected) != len(got.Event.Readings) {
			t.Fatal("readings lost in conversion")
		}
	})
}

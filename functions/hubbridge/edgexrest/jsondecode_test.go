package edgexrest

import (
	"bytes"
	"mime"
	"reflect"
	"strings"
	"testing"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
)

// decodeWithEncodingJSON is what core-data does with a JSON event: EdgeX's own
// UnmarshalJSON, on encoding/json. eventJSON must decide as it does.
func decodeWithEncodingJSON(body []byte) (requests.AddEventRequest, intake.Reason) {
	var req requests.AddEventRequest
	if err := req.UnmarshalJSON(body); err != nil {
		return req, classify(err)
	}
	return req, ""
}

// sameDecision fails t unless the hub's decoder and encoding/json's agree on body:
// the same reason, and when accepted, the same request.
func sameDecision(t *testing.T, body []byte) {
	t.Helper()
	want, wantReason := decodeWithEncodingJSON(body)
	got, gotReason, msg := decodeEvent(body, common.ContentTypeJSON)
	if gotReason != wantReason {
		t.Fatalf("%s\nhub's decoder: %q (%s); encoding/json: %q", clip(body), gotReason, msg, wantReason)
	}
	if gotReason == "" && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s\nhub's decoder gave %+v\nencoding/json gave %+v", clip(body), got, want)
	}
}

func clip(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

// eventBodies are JSON events of every kind the decoders must agree on.
func eventBodies() map[string][]byte {
	good := mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 1, 21.5, 22)))
	rack := dtos.NewEvent(profile, "pi-1", source)
	for _, v := range []struct {
		name, vt string
		value    any
	}{{"temperature", common.ValueTypeFloat64, 21.25}, {"count", common.ValueTypeUint32, uint32(7)}, {"ok", common.ValueTypeBool, true}, {"note", common.ValueTypeString, `say "hi" \ ü`}} {
		r, err := dtos.NewSimpleReading(profile, "pi-1", v.name, v.vt, v.value)
		if err != nil {
			panic(err)
		}
		rack.Readings = append(rack.Readings, r)
	}
	rack.Tags = dtos.Tags{"seq": 5, "site": map[string]any{"room": "A", "racks": []any{1, 2}}}
	binary := dtos.NewEvent(profile, "pi-1", source)
	binary.AddBinaryReading("image", []byte{0, 1, 2, 255}, "image/png")
	object := dtos.NewEvent(profile, "pi-1", source)
	object.AddObjectReading("state", map[string]any{"on": true, "modes": []any{"cool", 24.5}})
	lower := strings.ReplaceAll(string(good), `"valueType":"Float64"`, `"valueType":"float64"`)
	return map[string][]byte{
		"two readings":                     good,
		"four value types and nested tags": mustJSON(requests.NewAddEventRequest(rack)),
		"binary reading":                   mustJSON(requests.NewAddEventRequest(binary)),
		"object reading":                   mustJSON(requests.NewAddEventRequest(object)),
		"value type to normalize":          []byte(lower),
		"keys in another case":             bytes.ReplaceAll(good, []byte(`"deviceName"`), []byte(`"DEVICENAME"`)),
		"unknown field":                    bytes.Replace(good, []byte(`{"apiVersion"`), []byte(`{"extra":[1,{"a":null}],"apiVersion"`), 1),
		"escaped name":                     bytes.ReplaceAll(good, []byte(`"pi-1"`), []byte(`"pi\u002d1"`)),
		"surrounding space":                append(append([]byte(" \n\t"), good...), " \r\n"...),
		"trailing garbage":                 append(append([]byte{}, good...), "x"...),
		"two documents":                    append(append([]byte{}, good...), good...),
		"truncated":                        good[:len(good)/2],
		"empty":                            {},
		"null":                             []byte("null"),
		"array":                            []byte("[]"),
		"reading null":                     []byte(`{"apiVersion":"v3","event":{"apiVersion":"v3","id":"7a1707f0-166f-4c4b-bc9d-1d54c74e0137","deviceName":"d","profileName":"p","sourceName":"s","origin":1,"readings":[null]}}`),
		"reading not an object":            []byte(`{"apiVersion":"v3","event":{"readings":[7]}}`),
		"origin a string":                  []byte(`{"apiVersion":"v3","event":{"origin":"soon"}}`),
		"reading origin a string":          bytes.Replace(good, []byte(`"origin":`), []byte(`"origin":"x","o":`), 2),
		"value a number":                   bytes.Replace(good, []byte(`"value":"21.5"`), []byte(`"value":21.5`), 1),
		"value null":                       bytes.Replace(good, []byte(`"value":"21.5"`), []byte(`"value":null`), 1),
		"no readings":                      mustJSON(requests.NewAddEventRequest(dtos.NewEvent(profile, "pi-1", source))),
		"value not of its type":            bytes.Replace(good, []byte(`"value":"21.5"`), []byte(`"value":"warm"`), 1),
		"bad value type":                   bytes.Replace(good, []byte(`"valueType":"Float64"`), []byte(`"valueType":"Float65"`), 1),
		"deep nesting":                     []byte(`{"apiVersion":"v3","event":{"tags":` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `}}`),
		"invalid UTF-8 in a value":         bytes.Replace(good, []byte(`"value":"21.5"`), []byte("\"value\":\"2\xff\""), 1),
		"bad escape":                       bytes.Replace(good, []byte(`"pi-1"`), []byte(`"pi\q1"`), 1),
		"leading zero":                     bytes.Replace(good, []byte(`"origin":`), []byte(`"origin":0`), 1),
	}
}

func TestEventJSONDecidesAsEncodingJSON(t *testing.T) {
	for name, body := range eventBodies() {
		t.Run(name, func(t *testing.T) { sameDecision(t, body) })
	}
}

// The fuzzer looks for a body on which the hub's decoder and EdgeX's own on
// encoding/json disagree. (It does not validate an accepted request again: EdgeX
// validates before it normalizes value types, so "FloAt64" with a value that is no
// number passes it, as in core-data; the intake refuses that value.)
func FuzzDecodeEvent(f *testing.F) {
	for _, body := range eventBodies() {
		f.Add(body, "application/json")
	}
	f.Add([]byte{0xa2, 0x01, 0x02}, "application/cbor")
	f.Fuzz(func(t *testing.T, b []byte, contentType string) {
		if _, reason, msg := decodeEvent(b, contentType); reason != "" && msg == "" {
			t.Fatal("refusal without a message")
		}
		if mt, _, _ := mime.ParseMediaType(contentType); mt != common.ContentTypeCBOR {
			sameDecision(t, b)
		}
	})
}

// The hub's decoder beside encoding/json (core-data's) on the fleet's event of two
// readings; compare the two in one run.
func BenchmarkDecodeEvent(b *testing.B) {
	body := mustJSON(requests.NewAddEventRequest(eventOf("pi-1", 1, 21.5, 48)))
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, reason := decodeWithEncodingJSON(body); reason != "" {
				b.Fatal(reason)
			}
		}
	})
	b.Run("hub", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, reason, msg := decodeEvent(body, common.ContentTypeJSON); reason != "" {
				b.Fatal(msg)
			}
		}
	})
}

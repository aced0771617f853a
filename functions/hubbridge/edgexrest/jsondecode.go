package edgexrest

import (
	"errors"
	"unicode/utf8"
	"unsafe"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	jsoniter "github.com/json-iterator/go"
	"github.com/modern-go/reflect2"
)

// eventJSON is the JSON decoder of events: jsoniter in its encoding/json-compatible
// configuration, handed to EdgeX's own AddEventRequest.Unmarshal, so that EdgeX's DTO
// types, validation and value-type normalization decide what an event is, as in
// core-data. encoding/json scans every body once to check it and again to decode it,
// and then each reading twice more (BaseReading has its own UnmarshalJSON, which
// calls encoding/json on its bytes); that was 40 % of the hub's CPU at full speed.
//
// BaseReading gets a decoder of its own that takes the reading's bytes and hands them
// to EdgeX's BaseReading.Unmarshal with this same decoder: EdgeX's reading logic (the
// value as a string, its null marker), decoded by jsoniter.
var eventJSON = func() jsoniter.API {
	api := jsoniter.Config{EscapeHTML: true, SortMapKeys: true, ValidateJsonRawMessage: true}.Froze()
	api.RegisterExtension(jsoniter.DecoderExtension{
		reflect2.TypeOf(dtos.BaseReading{}): readingDecoder{api: api},
	})
	return api
}()

type readingDecoder struct{ api jsoniter.API }

func (d readingDecoder) Decode(ptr unsafe.Pointer, iter *jsoniter.Iterator) {
	raw := iter.SkipAndReturnBytes()
	if iter.Error != nil {
		return
	}
	if err := (*dtos.BaseReading)(ptr).Unmarshal(raw, d.api.Unmarshal); err != nil {
		iter.ReportError("decode reading", err.Error())
	}
}

// plainText tells whether body is valid UTF-8 without control bytes but JSON's
// whitespace. Other bodies go to encoding/json, which decides on them as core-data
// does: it replaces each invalid UTF-8 byte with U+FFFD where jsoniter keeps it, and
// refuses a raw control byte, where jsoniter takes a NUL for the end of its input.
// No EdgeX client sends such bodies, so they may take the slow way.
func plainText(body []byte) bool {
	for _, c := range body {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return utf8.Valid(body)
}

// decodeError is an error of the JSON decoder (bad syntax, or a value of the wrong
// JSON type), told from EdgeX's validation errors, which count under another reason.
type decodeError struct{ err error }

func (e decodeError) Error() string { return e.err.Error() }
func (e decodeError) Unwrap() error { return e.err }

// unmarshalEvent is the decoder EdgeX's Unmarshal calls.
func unmarshalEvent(b []byte, v any) error {
	if err := eventJSON.Unmarshal(b, v); err != nil {
		return decodeError{err}
	}
	return nil
}

// isDecodeError tells whether err comes from the JSON decoder.
func isDecodeError(err error) bool {
	var de decodeError
	return errors.As(err, &de)
}

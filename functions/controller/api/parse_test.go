package api_test

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/smartx-team/overcloud/functions/controller/api"
)

// TestParseKeepsTheDecodeError: the decoder's type error names the field that has
// the wrong type, which the API's 400 answer and a client's code can use.
func TestParseKeepsTheDecodeError(t *testing.T) {
	_, err := api.ParseManual([]byte(`{"setpoint": "22", "user": "kim"}`))
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) || typ.Field != "setpoint" {
		t.Errorf("ParseManual with a string setpoint = %v, want a *json.UnmarshalTypeError of setpoint", err)
	}
	_, err = api.ParseCancel([]byte(`{"user": `))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ParseCancel of cut JSON = %v, want io.ErrUnexpectedEOF", err)
	}
}

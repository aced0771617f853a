// Package reading is the one contract every part of the data path shares: what a
// reading is, how it is checked, and its single wire encoding on Kafka.
//
// A device produces readings, the hub relays them keyed by Device, the sender stores
// them. Nothing here imports any other package of this repository, so the firmware can
// use it without pulling in the cloud side.
//
// # Versions
//
// The wire form carries the contract's major version as "v" (Version). The rule that
// lets the hub and the sender be upgraded one at a time, in either order:
//
//   - Within a major version a change only adds optional fields. A reader ignores
//     fields it does not know, so an older sender reads a newer hub's readings.
//   - A reading without "v" is version 1: hubs from before the field was added.
//   - Anything that would change the meaning of an existing field, or add a required
//     one, is a new major version. A reader refuses a major version other than its
//     own with an error wrapping ErrVersion (and ErrInvalid), which the sender
//     dead-letters with a reason that says so, to be replayed once it is upgraded.
package reading

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Reading is one measured value of one resource of one device.
type Reading struct {
	// ID is unique per reading (a UUID in practice); redelivery keeps it.
	ID string `json:"id"`
	// Device names the device; it is the Kafka key, so ordering is per device.
	Device string `json:"device"`
	// Resource is what was measured: temperature, humidity, cpu, mem, disk, ...
	Resource string `json:"resource"`
	// Value is the measurement; never NaN or infinite.
	Value float64 `json:"value"`
	// Unit is optional ("C", "%", ...).
	Unit string `json:"unit,omitempty"`
	// Origin is when the device took the reading, in nanoseconds since the Unix epoch.
	Origin int64 `json:"origin"`
	// Seq is the device's own sequence number, increasing by reading; 0 is not valid.
	Seq uint64 `json:"seq"`
	// Location is the optional place of the device (a sector of the room, a site).
	Location string `json:"location,omitempty"`
}

// Version is the major version of the contract this package speaks.
const Version = 1

// Kafka topics of the data path: the hub relays to Topic, the sender dead-letters
// what it cannot store to DeadLetterTopic.
const (
	Topic           = "readings"
	DeadLetterTopic = "readings.dead"
)

// Names the firmware and the hub share on the EdgeX side: the EdgeX reading tags that
// carry a reading's sequence number and its device's location. The sender stores the
// location under the same name, as an InfluxDB tag.
const (
	TagSeq      = "seq"
	TagLocation = "location"
)

// Limits on names, so that one bad device cannot blow up tag cardinality or memory.
const (
	MaxNameLen = 128
	// MaxEncodedLen bounds one encoded reading; Decode rejects anything longer.
	MaxEncodedLen = 4096
)

// ErrInvalid is wrapped by every error Validate and Decode return for a reading
// that breaks the contract; callers branch on it to dead-letter instead of retrying.
var ErrInvalid = errors.New("invalid reading")

// ErrVersion is wrapped (with ErrInvalid) by Decode's error for a reading of another
// major version of the contract.
var ErrVersion = errors.New("another major version of the reading contract")

// wire is the encoded form: the reading's fields and the contract version beside them.
type wire struct {
	V int `json:"v"`
	Reading
}

// Validate reports the first way r breaks the contract, naming the field.
func (r Reading) Validate() error {
	if err := checkName("id", r.ID, true); err != nil {
		return err
	}
	if err := checkName("device", r.Device, true); err != nil {
		return err
	}
	if err := checkName("resource", r.Resource, true); err != nil {
		return err
	}
	if err := checkName("unit", r.Unit, false); err != nil {
		return err
	}
	if err := checkName("location", r.Location, false); err != nil {
		return err
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return fmt.Errorf("%w: value is %v", ErrInvalid, r.Value)
	}
	if r.Origin <= 0 {
		return fmt.Errorf("%w: origin %d is not a time after 1970", ErrInvalid, r.Origin)
	}
	if r.Seq == 0 {
		return fmt.Errorf("%w: seq is 0", ErrInvalid)
	}
	return nil
}

func checkName(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	case len(v) > MaxNameLen:
		return fmt.Errorf("%w: %s is %d bytes long, limit %d", ErrInvalid, field, len(v), MaxNameLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, field)
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %s has a control character", ErrInvalid, field)
		}
	}
	return nil
}

// Encode returns the wire form of r: compact JSON. It fails for an invalid reading,
// so nothing that breaks the contract is ever put on the wire.
func Encode(r Reading) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(wire{V: Version, Reading: r})
}

// Decode parses the wire form and validates it. Fields it does not know are ignored
// and a reading without "v" is version 1; another major version is an error wrapping
// ErrVersion (see Versions in the package doc).
func Decode(b []byte) (Reading, error) {
	if len(b) > MaxEncodedLen {
		return Reading{}, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalid, len(b), MaxEncodedLen)
	}
	// Unmarshal, not a Decoder: it refuses trailing data itself and skips the
	// Decoder's buffered copy of the value. Decode was half the sender's CPU;
	// BenchmarkDecode measures the two.
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) && syntax.Offset > 1 && json.Valid(b[:syntax.Offset-1]) {
			return Reading{}, fmt.Errorf("%w: trailing data after the reading", ErrInvalid)
		}
		return Reading{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if v := cmp.Or(w.V, 1); v != Version {
		return Reading{}, fmt.Errorf("%w: %w: v%d, this side speaks v%d", ErrInvalid, ErrVersion, v, Version)
	}
	if err := w.Reading.Validate(); err != nil {
		return Reading{}, err
	}
	return w.Reading, nil
}

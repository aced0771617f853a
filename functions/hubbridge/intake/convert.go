package intake

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/reading"
)

// Reason names why input was refused; it is the label of hub_rejected_total.
type Reason string

// Reasons for refusing a whole request or message.
const (
	ReasonMalformed     Reason = "malformed"      // not JSON, or JSON of the wrong shape
	ReasonInvalid       Reason = "invalid"        // fails EdgeX's own validation
	ReasonTooLarge      Reason = "too_large"      // body over the size limit
	ReasonUnauthorized  Reason = "unauthorized"   // missing or wrong bearer token
	ReasonForbidden     Reason = "forbidden"      // device has no token on this hub
	ReasonUnknownDevice Reason = "unknown_device" // device never registered
	ReasonPathMismatch  Reason = "path_mismatch"  // URL names another profile/device/source than the event
	ReasonUndecodable   Reason = "undecodable"    // message-bus payload that is no EdgeX event
)

// Reasons for refusing one reading of an event; the event's other readings are kept.
const (
	ReasonOutOfRange     Reason = "out_of_range"    // outside the resource's limits
	ReasonNonNumeric     Reason = "non_numeric"     // value type or value is not a finite number
	ReasonBadOrigin      Reason = "bad_origin"      // origin not in nanoseconds
	ReasonBadSeq         Reason = "bad_seq"         // seq tag not a positive integer
	ReasonInvalidReading Reason = "invalid_reading" // breaks the reading contract (names, ids)
)

// Reasons lists every reason, so that each series of hub_rejected_total exists (at 0)
// from the start and a dashboard can show that nothing was refused.
var Reasons = []Reason{
	ReasonMalformed, ReasonInvalid, ReasonTooLarge, ReasonUnauthorized, ReasonForbidden,
	ReasonUnknownDevice, ReasonPathMismatch, ReasonUndecodable,
	ReasonOutOfRange, ReasonNonNumeric, ReasonBadOrigin, ReasonBadSeq, ReasonInvalidReading,
}

// Rejection is one refused reading of an event.
type Rejection struct {
	// Index is the reading's place in the event.
	Index int
	// Resource is the reading's resource name as sent.
	Resource string
	Reason   Reason
	// Detail says what was wrong, for the device's operator.
	Detail string
}

func (r Rejection) String() string {
	return fmt.Sprintf("reading %d (%s): %s: %s", r.Index, r.Resource, r.Reason, r.Detail)
}

// minOriginNs is 1973-03-03 in ns since the epoch. A smaller origin is taken for a
// device that sends seconds or milliseconds (now is about 1.7e9 s or 1.7e12 ms, far
// below it): refused rather than guessed, since a wrong guess misplaces the reading by
// orders of magnitude in time.
const minOriginNs = 1e17

// maxExactSeq is the largest seq a JSON number carries exactly (2^53).
const maxExactSeq = 1 << 53

// idSpace is the UUIDv5 namespace for ids made up for readings that come without one,
// so the same reading sent twice gets the same id.
var idSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/smartx-team/overcloud/hubbridge/reading"))

// Converted is an event turned into readings.
type Converted struct {
	// Readings are the good readings in event order. Seq is 0 for those that came
	// without a seq (neither in the reading's nor in the event's tags).
	Readings []reading.Reading
	// Rejected are the refused readings.
	Rejected []Rejection
}

// Convert turns an EdgeX event (already validated by EdgeX's contract) into readings
// of device ev.DeviceName at location (when empty: the reading's or the event's
// location tag), checking each against limits. It never fails as
// a whole: each bad reading becomes a Rejection. It is pure, so it can be fuzzed.
func Convert(ev dtos.Event, location string, limits Limits) Converted {
	var out Converted
	eventSeq, eventSeqErr := tagSeq(ev.Tags)
	for i, br := range ev.Readings {
		r, reason, detail := convertOne(ev, i, br, location, limits, eventSeq, eventSeqErr)
		if reason != "" {
			out.Rejected = append(out.Rejected, Rejection{Index: i, Resource: br.ResourceName, Reason: reason, Detail: detail})
			continue
		}
		out.Readings = append(out.Readings, r)
	}
	return out
}

func convertOne(ev dtos.Event, i int, br dtos.BaseReading, location string, limits Limits, eventSeq uint64, eventSeqErr error) (reading.Reading, Reason, string) {
	r := reading.Reading{
		Device: ev.DeviceName, Resource: br.ResourceName, Unit: br.Units,
		Origin: br.Origin, Location: location,
	}
	// The hub's registry knows a device's location in standalone mode; behind a real
	// EdgeX the device registered with core-metadata, not with us, and the location
	// comes with the reading (the firmware tags every reading with it), or the event.
	if r.Location == "" {
		r.Location = tagString(br.Tags, reading.TagLocation)
	}
	if r.Location == "" {
		r.Location = tagString(ev.Tags, reading.TagLocation)
	}
	if br.DeviceName != "" && br.DeviceName != ev.DeviceName {
		return r, ReasonInvalidReading, fmt.Sprintf("reading names device %q in an event of %q", br.DeviceName, ev.DeviceName)
	}
	v, reason, detail := value(br)
	if reason != "" {
		return r, reason, detail
	}
	if lim, ok := limits[br.ResourceName]; ok && !lim.Contains(v) {
		return r, ReasonOutOfRange, fmt.Sprintf("%g is outside %s", v, lim)
	}
	r.Value = v
	if r.Origin < minOriginNs {
		return r, ReasonBadOrigin, fmt.Sprintf("origin %d is not in nanoseconds since 1970 (seconds or milliseconds?)", r.Origin)
	}
	seq, err := tagSeq(br.Tags)
	switch {
	case err != nil:
		return r, ReasonBadSeq, err.Error()
	case seq > 0:
		r.Seq = seq
	case eventSeqErr != nil:
		return r, ReasonBadSeq, "event " + eventSeqErr.Error()
	case eventSeq > 0:
		r.Seq = eventSeq + uint64(i)
	}
	r.ID = br.Id
	if r.ID == "" {
		r.ID = uuid.NewSHA1(idSpace, []byte(r.Device+"\x00"+r.Resource+"\x00"+strconv.FormatInt(r.Origin, 10))).String()
	}
	check := r
	if check.Seq == 0 {
		check.Seq = 1 // assigned later from the device's counter
	}
	if err := check.Validate(); err != nil {
		return r, ReasonInvalidReading, strings.TrimPrefix(err.Error(), reading.ErrInvalid.Error()+": ")
	}
	return r, "", ""
}

// value parses a simple reading's value by its EdgeX value type.
func value(br dtos.BaseReading) (float64, Reason, string) {
	if br.IsNull() {
		return 0, ReasonNonNumeric, "null value"
	}
	s := br.Value
	switch br.ValueType {
	case common.ValueTypeBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return 0, ReasonNonNumeric, fmt.Sprintf("%q is not a Bool", s)
		}
		if b {
			return 1, "", ""
		}
		return 0, "", ""
	case common.ValueTypeFloat32, common.ValueTypeFloat64,
		common.ValueTypeInt8, common.ValueTypeInt16, common.ValueTypeInt32, common.ValueTypeInt64,
		common.ValueTypeUint8, common.ValueTypeUint16, common.ValueTypeUint32, common.ValueTypeUint64:
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, ReasonNonNumeric, fmt.Sprintf("%q is not a finite %s", clip(s), br.ValueType)
		}
		return v, "", ""
	default:
		return 0, ReasonNonNumeric, fmt.Sprintf("value type %q is not a number", clip(br.ValueType))
	}
}

// tagString reads a string tag ("" when absent or not a string).
func tagString(tags dtos.Tags, key string) string {
	s, _ := tags[key].(string)
	return s
}

// tagSeq reads the "seq" tag: 0 if absent, an error if present but not a positive
// integer that fits a JSON number exactly.
func tagSeq(tags dtos.Tags) (uint64, error) {
	v, ok := tags[reading.TagSeq]
	if !ok {
		return 0, nil
	}
	bad := fmt.Errorf("tag seq %v is not a positive integer", clipAny(v))
	var n uint64
	switch x := v.(type) {
	case float64:
		if x < 1 || x > maxExactSeq || x != math.Trunc(x) {
			return 0, bad
		}
		n = uint64(x)
	case int64:
		if x < 1 {
			return 0, bad
		}
		n = uint64(x)
	case uint64:
		n = x
	case int:
		if x < 1 {
			return 0, bad
		}
		n = uint64(x)
	case string:
		u, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return 0, bad
		}
		n = u
	default:
		return 0, bad
	}
	if n == 0 || n > maxExactSeq {
		return 0, bad
	}
	return n, nil
}

// clip shortens what we echo from input, so a refusal message stays small.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func clipAny(v any) string { return clip(fmt.Sprint(v)) }

package intake

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/reading"
)

const origin = int64(1_750_000_000_000_000_000) // 2025 in ns

func simple(resource, valueType, value string) dtos.BaseReading {
	return dtos.BaseReading{
		Id: "r-" + resource, Origin: origin, DeviceName: "dev-1", ResourceName: resource,
		ProfileName: "p", ValueType: valueType, Units: "C",
		SimpleReading: dtos.SimpleReading{Value: value},
	}
}

func event(rs ...dtos.BaseReading) dtos.Event {
	ev := dtos.NewEvent("p", "dev-1", "room")
	ev.Readings = rs
	return ev
}

func withTags(br dtos.BaseReading, tags dtos.Tags) dtos.BaseReading {
	br.Tags = tags
	return br
}

func TestConvert(t *testing.T) {
	limits, err := ParseLimits(DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", reading.MaxNameLen+1)
	tests := []struct {
		name    string
		br      dtos.BaseReading
		evTags  dtos.Tags
		value   float64
		seq     uint64
		reason  Reason
		checkID func(t *testing.T, id string)
	}{
		{name: "float64 EdgeX format", br: withTags(simple("temperature", common.ValueTypeFloat64, "2.150000e+01"), dtos.Tags{"seq": float64(7)}), value: 21.5, seq: 7},
		{name: "float32", br: simple("temperature", common.ValueTypeFloat32, "20.25"), value: 20.25},
		{name: "int16", br: simple("humidity", common.ValueTypeInt16, "45"), value: 45},
		{name: "uint64", br: simple("mem", common.ValueTypeUint64, "123456789"), value: 123456789},
		{name: "bool true is 1", br: simple("door", common.ValueTypeBool, "true"), value: 1},
		{name: "bool false is 0", br: simple("door", common.ValueTypeBool, "false"), value: 0},
		{name: "no limit for unknown resource", br: simple("pressure", common.ValueTypeFloat64, "101325"), value: 101325},
		{name: "limit ends included", br: simple("humidity", common.ValueTypeFloat64, "100"), value: 100},
		{name: "seq from event tags plus index", br: simple("temperature", common.ValueTypeFloat64, "20"), evTags: dtos.Tags{"seq": float64(40)}, value: 20, seq: 40},
		{name: "seq as string", br: withTags(simple("temperature", common.ValueTypeFloat64, "20"), dtos.Tags{"seq": "12"}), value: 20, seq: 12},
		{name: "string value", br: simple("name", common.ValueTypeString, "hello"), reason: ReasonNonNumeric},
		{name: "NaN", br: simple("temperature", common.ValueTypeFloat64, "NaN"), reason: ReasonNonNumeric},
		{name: "Inf", br: simple("temperature", common.ValueTypeFloat64, "+Inf"), reason: ReasonNonNumeric},
		{name: "garbage number", br: simple("temperature", common.ValueTypeFloat64, "21,5"), reason: ReasonNonNumeric},
		{name: "array", br: simple("temperature", common.ValueTypeFloat64Array, "[1, 2]"), reason: ReasonNonNumeric},
		{name: "too hot", br: simple("temperature", common.ValueTypeFloat64, "140"), reason: ReasonOutOfRange},
		{name: "too cold", br: simple("temperature", common.ValueTypeFloat64, "-41"), reason: ReasonOutOfRange},
		{name: "negative memory", br: simple("mem", common.ValueTypeInt64, "-1"), reason: ReasonOutOfRange},
		{name: "origin in ms", br: func() dtos.BaseReading {
			b := simple("temperature", common.ValueTypeFloat64, "20")
			b.Origin = 1_750_000_000_000
			return b
		}(), reason: ReasonBadOrigin},
		{name: "origin in s", br: func() dtos.BaseReading {
			b := simple("temperature", common.ValueTypeFloat64, "20")
			b.Origin = 1_750_000_000
			return b
		}(), reason: ReasonBadOrigin},
		{name: "seq zero", br: withTags(simple("temperature", common.ValueTypeFloat64, "20"), dtos.Tags{"seq": float64(0)}), reason: ReasonBadSeq},
		{name: "seq fraction", br: withTags(simple("temperature", common.ValueTypeFloat64, "20"), dtos.Tags{"seq": 1.5}), reason: ReasonBadSeq},
		{name: "seq negative", br: withTags(simple("temperature", common.ValueTypeFloat64, "20"), dtos.Tags{"seq": float64(-3)}), reason: ReasonBadSeq},
		{name: "seq not a number", br: withTags(simple("temperature", common.ValueTypeFloat64, "20"), dtos.Tags{"seq": true}), reason: ReasonBadSeq},
		{name: "bad event seq", br: simple("temperature", common.ValueTypeFloat64, "20"), evTags: dtos.Tags{"seq": "x"}, reason: ReasonBadSeq},
		{name: "resource name too long", br: simple(long, common.ValueTypeFloat64, "20"), reason: ReasonInvalidReading},
		{name: "reading of another device", br: func() dtos.BaseReading {
			b := simple("temperature", common.ValueTypeFloat64, "20")
			b.DeviceName = "dev-2"
			return b
		}(), reason: ReasonInvalidReading},
		{name: "id made up when missing", br: func() dtos.BaseReading {
			b := simple("temperature", common.ValueTypeFloat64, "20")
			b.Id = ""
			return b
		}(), value: 20,
			checkID: func(t *testing.T, id string) {
				again := Convert(event(func() dtos.BaseReading {
					b := simple("temperature", common.ValueTypeFloat64, "20")
					b.Id = ""
					return b
				}()), "", nil)
				if id == "" || again.Readings[0].ID != id {
					t.Errorf("made-up id %q is not deterministic (again %q)", id, again.Readings[0].ID)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := event(tt.br)
			ev.Tags = tt.evTags
			got := Convert(ev, "sector-2", limits)
			if tt.reason != "" {
				if len(got.Rejected) != 1 || got.Rejected[0].Reason != tt.reason || len(got.Readings) != 0 {
					t.Fatalf("got %+v, want one rejection %s", got, tt.reason)
				}
				if got.Rejected[0].Detail == "" {
					t.Error("rejection without detail")
				}
				return
			}
			if len(got.Rejected) != 0 || len(got.Readings) != 1 {
				t.Fatalf("got %+v, want one reading", got)
			}
			r := got.Readings[0]
			if r.Value != tt.value || r.Seq != tt.seq || r.Device != "dev-1" || r.Location != "sector-2" || r.Origin != origin || r.Unit != "C" {
				t.Errorf("reading %+v, want value %v seq %d", r, tt.value, tt.seq)
			}
			if tt.checkID != nil {
				tt.checkID(t, r.ID)
			} else if r.ID != tt.br.Id {
				t.Errorf("id %q, want %q", r.ID, tt.br.Id)
			}
		})
	}
}

// One bad reading does not take its event's good readings with it, and event seq
// numbers count by index.
// The location: the one the hub registered for the device wins; without one (behind
// a real EdgeX, the device registered with core-metadata), the reading's location tag,
// else the event's.
func TestConvertLocation(t *testing.T) {
	tagged := withTags(simple("temperature", common.ValueTypeFloat64, "21"), dtos.Tags{"location": "sector-2"})
	for _, tt := range []struct {
		name, registered string
		br               dtos.BaseReading
		evTags           dtos.Tags
		want             string
	}{
		{"registered wins", "sector-1", tagged, nil, "sector-1"},
		{"the reading's tag", "", tagged, dtos.Tags{"location": "sector-3"}, "sector-2"},
		{"the event's tag", "", simple("temperature", common.ValueTypeFloat64, "21"), dtos.Tags{"location": "sector-3"}, "sector-3"},
		{"none", "", simple("temperature", common.ValueTypeFloat64, "21"), nil, ""},
		{"a tag that is no string", "", withTags(simple("temperature", common.ValueTypeFloat64, "21"), dtos.Tags{"location": 7.0}), nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := event(tt.br)
			ev.Tags = tt.evTags
			got := Convert(ev, tt.registered, Limits{})
			if len(got.Readings) != 1 || got.Readings[0].Location != tt.want {
				t.Errorf("Convert = %+v, want one reading at location %q", got, tt.want)
			}
		})
	}
}

func TestConvertMixed(t *testing.T) {
	ev := event(
		simple("temperature", common.ValueTypeFloat64, "21"),
		simple("humidity", common.ValueTypeFloat64, "140"),
		simple("cpu", common.ValueTypeFloat64, "33"),
	)
	ev.Readings[1].Id, ev.Readings[2].Id = "r-2", "r-3"
	ev.Tags = dtos.Tags{"seq": float64(100)}
	got := Convert(ev, "", Limits{"humidity": {Min: 0, Max: 100}})
	if len(got.Readings) != 2 || len(got.Rejected) != 1 {
		t.Fatalf("got %+v", got)
	}
	if got.Readings[0].Seq != 100 || got.Readings[1].Seq != 102 {
		t.Errorf("seqs %d, %d; want 100, 102", got.Readings[0].Seq, got.Readings[1].Seq)
	}
	if got.Rejected[0].Index != 1 || got.Rejected[0].Reason != ReasonOutOfRange {
		t.Errorf("rejected %+v", got.Rejected[0])
	}
}

// FuzzConvert feeds arbitrary bodies through EdgeX's own decoding and validation and
// then Convert: it must never panic, account for every reading, and emit only
// readings that keep the contract.
func FuzzConvert(f *testing.F) {
	ev := event(withTags(simple("temperature", common.ValueTypeFloat64, "2.15e+01"), dtos.Tags{"seq": float64(1)}), simple("humidity", common.ValueTypeInt8, "140"))
	seed, _ := json.Marshal(requests.NewAddEventRequest(ev))
	f.Add(seed)
	f.Add([]byte(`{"apiVersion":"v3","event":{"apiVersion":"v3","id":"7a1707f0-166f-4c4b-bc9d-1d54c74e0137","deviceName":"d","profileName":"p","sourceName":"s","origin":1,"readings":[{"origin":1,"deviceName":"d","resourceName":"r","profileName":"p","valueType":"Bool","value":"true","tags":{"seq":"9"}}]}}`))
	f.Add([]byte(`{"apiVersion":"v3","event":{"readings":[{"valueType":"Float64","value":null}]}}`))
	limits, _ := ParseLimits(DefaultLimits)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req requests.AddEventRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return
		}
		got := Convert(req.Event, "loc", limits)
		if len(got.Readings)+len(got.Rejected) != len(req.Event.Readings) {
			t.Fatalf("%d readings + %d rejected != %d in the event", len(got.Readings), len(got.Rejected), len(req.Event.Readings))
		}
		for _, r := range got.Readings {
			if r.Seq == 0 {
				r.Seq = 1
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("emitted invalid reading %+v: %v", r, err)
			}
			if math.IsNaN(r.Value) {
				t.Fatal("NaN value")
			}
			if lim, ok := limits[r.Resource]; ok && !lim.Contains(r.Value) {
				t.Fatalf("value %v of %s outside %s", r.Value, r.Resource, lim)
			}
		}
	})
}

package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func good() Reading {
	return Reading{
		ID: "0b7e0e5a-6a3f-4d7c-9a55-1c2b9f0a1e11", Device: "sector-1", Resource: "temperature",
		Value: 23.5, Unit: "C", Origin: 1_700_000_000_000_000_000, Seq: 7, Location: "Gwangju",
	}
}

func TestRoundTrip(t *testing.T) {
	r := good()
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != r {
		t.Fatalf("round trip changed the reading:\n got %+v\nwant %+v", got, r)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Reading)
		want   string // part of the error; "" = valid
	}{
		{"good", func(*Reading) {}, ""},
		{"no unit or location", func(r *Reading) { r.Unit, r.Location = "", "" }, ""},
		{"empty id", func(r *Reading) { r.ID = "" }, "id is empty"},
		{"empty device", func(r *Reading) { r.Device = "" }, "device is empty"},
		{"empty resource", func(r *Reading) { r.Resource = "" }, "resource is empty"},
		{"long device", func(r *Reading) { r.Device = strings.Repeat("d", MaxNameLen+1) }, "device is 129 bytes"},
		{"control char", func(r *Reading) { r.Resource = "temp\nerature" }, "control character"},
		{"bad utf8", func(r *Reading) { r.Location = "\xff" }, "not UTF-8"},
		{"NaN", func(r *Reading) { r.Value = math.NaN() }, "value is NaN"},
		{"Inf", func(r *Reading) { r.Value = math.Inf(-1) }, "value is -Inf"},
		{"zero origin", func(r *Reading) { r.Origin = 0 }, "origin 0"},
		{"negative origin", func(r *Reading) { r.Origin = -5 }, "origin -5"},
		{"zero seq", func(r *Reading) { r.Seq = 0 }, "seq is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.change(&r)
			err := r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if _, err := Encode(r); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Encode() = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", `temperature=21`, "invalid character"},
		{"empty", ``, "end of JSON input"},
		{"array", `[1,2]`, "cannot unmarshal array"},
		{"other major version", `{"v":2,"id":"a","device":"d","resource":"r","value":1,"origin":1,"seq":1}`, "v2, this side speaks v1"},
		{"negative version", `{"v":-1,"id":"a","device":"d","resource":"r","value":1,"origin":1,"seq":1}`, "v-1"},
		{"string value", `{"id":"a","device":"d","resource":"r","value":"1","origin":1,"seq":1}`, "cannot unmarshal string"},
		{"trailing", `{"id":"a","device":"d","resource":"r","value":1,"origin":1,"seq":1} {}`, "trailing data"},
		{"negative seq", `{"id":"a","device":"d","resource":"r","value":1,"origin":1,"seq":-1}`, "cannot unmarshal number -1"},
		{"missing seq", `{"id":"a","device":"d","resource":"r","value":1,"origin":1}`, "seq is 0"},
		{"too long", `{"id":"` + strings.Repeat("a", MaxEncodedLen) + `"}`, "limit 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode(%q) = %v, want ErrInvalid containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Encode(good())
	f.Add(b)
	f.Add([]byte(`{"id":"a","device":"d","resource":"r","value":1e308,"origin":1,"seq":18446744073709551615}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Whatever decodes must encode and decode to the same reading.
		out, err := Encode(r)
		if err != nil {
			t.Fatalf("decoded reading does not encode: %v", err)
		}
		again, err := Decode(out)
		if err != nil || again != r {
			t.Fatalf("re-decode = %+v, %v; want %+v", again, err, r)
		}
	})
}

// The upgrade rule of the package doc, in both orders: a newer producer's reading of
// the same major version with an optional field this side does not know is read; an
// older producer's reading without "v" is read as version 1; another major version is
// refused with ErrVersion.
func TestDecodeAcrossVersions(t *testing.T) {
	want := Reading{ID: "a", Device: "d", Resource: "r", Value: 1, Origin: 1, Seq: 1}
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"newer producer, same major, unknown optional field", `{"v":1,"id":"a","device":"d","resource":"r","value":1,"origin":1,"seq":1,"quality":"good"}`, true},
		{"older producer without v", `{"id":"a","device":"d","resource":"r","value":1,"origin":1,"seq":1}`, true},
		{"newer major version", `{"v":2,"id":"a","device":"d","resource":"r","value":1,"origin":1,"seq":1}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if tt.ok {
				if err != nil || got != want {
					t.Fatalf("Decode = %+v, %v; want %+v", got, err, want)
				}
				return
			}
			if !errors.Is(err, ErrVersion) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode = %v, want ErrVersion and ErrInvalid", err)
			}
		})
	}
	b, err := Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"v":1,`) {
		t.Errorf("Encode = %s, want the version first", b)
	}
}

// BenchmarkDecode compares Decode with the json.Decoder it used before (and the same
// validation), on one reading as the hub puts it on Kafka.
func BenchmarkDecode(b *testing.B) {
	enc, err := Encode(Reading{ID: "0b8f2c3e-6a4d-4f0e-9d7a-2f1c5b8e9a10", Device: "pi-1", Resource: "temperature",
		Value: 23.4, Unit: "C", Origin: 1764748800123456789, Seq: 4294967297, Location: "sector-1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Decoder", func(b *testing.B) {
		for b.Loop() {
			var w wire
			dec := json.NewDecoder(bytes.NewReader(enc))
			if err := dec.Decode(&w); err != nil || dec.More() || w.Reading.Validate() != nil {
				b.Fatal(err)
			}
		}
	})
}

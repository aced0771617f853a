package learn

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

func TestCSVRoundTrip(t *testing.T) {
	ds, err := Build(rowsOf("pi,\"1\"", steady(9, constant(23.5))), small)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, ds.Features, ds.Samples); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	wantHeader := "device,time,temperature_t-2,setpoint_t-2,ext_temperature_t-2,weather_t-2,hour_sin_t-2," +
		"temperature_t-1,setpoint_t-1,ext_temperature_t-1,weather_t-1,hour_sin_t-1," +
		"temperature_t0,setpoint_t0,ext_temperature_t0,weather_t0,hour_sin_t0,target_temperature,target_humidity"
	if lines[0] != wantHeader {
		t.Errorf("header\n%s\nwant\n%s", lines[0], wantHeader)
	}
	if len(lines) != 1+len(ds.Samples) || !strings.HasPrefix(lines[1], `"pi,""1""",2026-03-01T00:02:00Z,20,23.5,10,0,0,21,`) {
		t.Errorf("%d lines, first row %s", len(lines), lines[1])
	}
	features, got, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(features, ds.Features) || len(got) != len(ds.Samples) {
		t.Fatalf("read %v and %d samples", features, len(got))
	}
	for i, s := range got {
		w := ds.Samples[i]
		if s.Device != w.Device || !s.Time.Equal(w.Time) || !slices.Equal(s.Target, w.Target) {
			t.Errorf("sample %d: %+v, want %+v", i, s, w)
		}
		for j := range s.Window {
			if !slices.Equal(s.Window[j], w.Window[j]) {
				t.Errorf("sample %d row %d: %v, want %v", i, j, s.Window[j], w.Window[j])
			}
		}
		// small has no humidity feature: no current value to read back
		if !math.IsNaN(s.Current[0]) {
			t.Errorf("current %v without a humidity column", s.Current)
		}
	}
}

func TestReadCSVCurrentAndErrors(t *testing.T) {
	header := "device,time,setpoint_t-1,temperature_t-1,humidity_t-1,setpoint_t0,temperature_t0,humidity_t0,target_temperature,target_humidity\n"
	_, s, err := ReadCSV(strings.NewReader(header + "pi-1,2026-03-01T09:00:00+09:00,24,25,50,22,25.5,49,24,51\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || !slices.Equal(s[0].Current, []float64{25.5, 49}) || !s[0].Time.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("read %+v", s)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "header"},
		{"no targets", "device,time,setpoint_t0\n", "want device, time"},
		{"not device first", "dev,time,setpoint_t0,target_temperature,target_humidity\n", "want device"},
		{"unnamed step", "device,time,setpoint,target_temperature,target_humidity\n", `"setpoint"`},
		{"steps out of order", "device,time,setpoint_t0,setpoint_t-1,target_temperature,target_humidity\n", "column 3"},
		{"odd window", "device,time,a_t-1,b_t-1,a_t0,target_temperature,target_humidity\n", "3 window columns"},
		{"repeated feature", "device,time,a_t0,a_t0,target_temperature,target_humidity\n", "repeated"},
		{"targets swapped", "device,time,a_t0,target_humidity,target_temperature\n", "column 4"},
		{"short row", header + "pi-1,2026-03-01T00:00:00Z,1,2\n", "wrong number of fields"},
		{"no device", header + ",2026-03-01T00:00:00Z,1,2,3,4,5,6,7,8\n", "line 2: no device"},
		{"bad time", header + "pi-1,yesterday,1,2,3,4,5,6,7,8\n", "line 2: time"},
		{"time before year 1 in UTC", header + "pi-1,0001-01-01T00:30:00+01:00,1,2,3,4,5,6,7,8\n", "out of range"},
		{"NaN", header + "pi-1,2026-03-01T00:00:00Z,1,2,NaN,4,5,6,7,8\n", "humidity_t-1"},
		{"not a number", header + "pi-1,2026-03-01T00:00:00Z,1,2,3,4,5,6,7,x\n", "target_humidity"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadCSV(strings.NewReader(tt.in))
			if !errors.Is(err, ErrCSV) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadCSV = %v, want ErrCSV naming %q", err, tt.want)
			}
		})
	}
	if err := WriteCSV(&bytes.Buffer{}, nil, nil); err == nil {
		t.Error("WriteCSV without features")
	}
	if err := WriteCSV(&bytes.Buffer{}, []string{model.FeatureSetpoint}, []Sample{{Window: [][]float64{{1, 2}}, Target: []float64{1, 2}}}); err == nil {
		t.Error("WriteCSV of a sample with too many values")
	}
}

// FuzzReadCSV: ReadCSV never panics, and what it reads writes back to a file that
// reads the same.
func FuzzReadCSV(f *testing.F) {
	f.Add("device,time,setpoint_t-1,temperature_t-1,setpoint_t0,temperature_t0,target_temperature,target_humidity\n" +
		"pi-1,2026-03-01T00:00:00Z,24,25,22,25.5,24,51\n\"p\"\"2\",2026-03-01T00:01:00.5+09:00,1e3,-0,2,3,4,5\n")
	f.Add("device,time,a_t0,target_temperature,target_humidity\nx,2026-03-01T00:00:00Z,1,2,3\n")
	f.Add("device,time,a_t-1,b_t-1,a_t0,b_t0,target_temperature,target_humidity\n")
	f.Fuzz(func(t *testing.T, in string) {
		features, samples, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrCSV) {
				t.Fatalf("error %v does not wrap ErrCSV", err)
			}
			return
		}
		var buf bytes.Buffer
		if len(samples) == 0 {
			return // the header alone does not say how many steps WriteCSV would write
		}
		if err := WriteCSV(&buf, features, samples); err != nil {
			t.Fatalf("WriteCSV of what ReadCSV read: %v", err)
		}
		f2, s2, err := ReadCSV(&buf)
		if err != nil {
			t.Fatalf("ReadCSV of what WriteCSV wrote: %v\n%s", err, buf.String())
		}
		if !slices.Equal(features, f2) || len(s2) != len(samples) {
			t.Fatalf("round trip: %v %d, want %v %d", f2, len(s2), features, len(samples))
		}
		for i := range samples {
			a, b := samples[i], s2[i]
			if a.Device != b.Device || !a.Time.Equal(b.Time) || !slices.Equal(a.Target, b.Target) || len(a.Window) != len(b.Window) {
				t.Fatalf("sample %d: %+v, want %+v", i, b, a)
			}
			for j := range a.Window {
				if !slices.Equal(a.Window[j], b.Window[j]) {
					t.Fatalf("sample %d row %d: %v, want %v", i, j, b.Window[j], a.Window[j])
				}
			}
		}
	})
}

// TestReadCSVKeepsTheReadersError: the csv reader's error says which line and column
// broke, and an empty file is io.EOF; both must reach the caller with ErrCSV.
func TestReadCSVKeepsTheReadersError(t *testing.T) {
	_, _, err := ReadCSV(strings.NewReader(""))
	if !errors.Is(err, ErrCSV) || !errors.Is(err, io.EOF) {
		t.Errorf("ReadCSV of nothing = %v, want ErrCSV and io.EOF", err)
	}
	header := "device,time,setpoint_t0,target_temperature,target_humidity\n"
	_, _, err = ReadCSV(strings.NewReader(header + "pi-1,2026-03-01T00:00:00Z,1,2,3\npi-1,2026-03-01T00:01:00Z,1\n"))
	var pe *csv.ParseError
	if !errors.Is(err, ErrCSV) || !errors.Is(err, csv.ErrFieldCount) || !errors.As(err, &pe) || pe.Line != 3 {
		t.Fatalf("ReadCSV of a short line 3 = %v, want ErrCSV wrapping a *csv.ParseError of line 3", err)
	}
	_, _, err = ReadCSV(strings.NewReader("device,\"time\n"))
	if !errors.Is(err, ErrCSV) || !errors.As(err, &pe) || !errors.Is(err, csv.ErrQuote) {
		t.Fatalf("ReadCSV of a broken header = %v, want ErrCSV wrapping csv.ErrQuote", err)
	}
}

package learn

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

// The training set as CSV, for tools outside (the original exported it for its ML
// cluster). The header names every column; each later row is one sample:
//
//	device, time, <feature>_t-<k> for each step k = Steps-1 .. 0 (oldest first) and
//	each feature in order, target_temperature, target_humidity
//
// time is the window's last step, RFC 3339 in UTC; t0 is that step, and the set-point
// in the t0 columns is the one in force at the target step (see the package doc).
// Numbers are written in the shortest form that reads back exactly.

// ErrCSV wraps every reason ReadCSV refuses its input.
var ErrCSV = errors.New("learn: bad training CSV")

// csvColumn names feature f at step k before the last (0 = the last).
func csvColumn(f string, k int) string {
	if k == 0 {
		return f + "_t0"
	}
	return f + "_t-" + strconv.Itoa(k)
}

// CSVHeader is the header row of WriteCSV for windows of steps rows of features.
func CSVHeader(features []string, steps int) []string {
	h := []string{"device", "time"}
	for j := range steps {
		for _, f := range features {
			h = append(h, csvColumn(f, steps-1-j))
		}
	}
	for _, o := range Outputs {
		h = append(h, "target_"+o)
	}
	return h
}

// WriteCSV writes the header and one row per sample; every sample's window must have
// the same number of steps, each of len(features) values.
func WriteCSV(w io.Writer, features []string, samples []Sample) error {
	if len(features) == 0 || slices.Contains(features, "") {
		return errors.New("learn: csv: features must be named")
	}
	steps := DefaultSteps
	if len(samples) > 0 {
		steps = len(samples[0].Window)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader(features, steps)); err != nil {
		return err
	}
	rec := make([]string, 0, 2+steps*len(features)+len(Outputs))
	for i, s := range samples {
		if err := s.check(steps, len(features)); err != nil {
			return fmt.Errorf("learn: csv: sample %d: %w", i, err)
		}
		rec = append(rec[:0], s.Device, s.Time.UTC().Format(time.RFC3339Nano))
		for _, row := range s.Window {
			for _, v := range row {
				rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		for _, v := range s.Target {
			rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads what WriteCSV wrote: the features, in order, and the samples with
// Device, Time, Window and Target set, and Current taken from the last window row
// when it has temperature and humidity (NaN otherwise). From and At are not in the
// file and stay zero. Anything else is an error wrapping ErrCSV that names the line.
func ReadCSV(r io.Reader) (features []string, samples []Sample, err error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: header: %w", ErrCSV, err)
	}
	features, steps, err := parseHeader(header)
	if err != nil {
		return nil, nil, err
	}
	nf := len(features)
	ti := slices.Index(features, model.FeatureTemperature)
	hi := slices.Index(features, model.FeatureHumidity)
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return features, samples, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrCSV, err)
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrCSV, line, fmt.Sprintf(format, args...))
		}
		if rec[0] == "" {
			return nil, nil, bad("no device")
		}
		t, err := time.Parse(time.RFC3339Nano, rec[1])
		if err != nil {
			return nil, nil, bad("time %q is not RFC 3339", rec[1])
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return nil, nil, bad("time %q is out of range in UTC", rec[1])
		}
		nums := make([]float64, len(rec)-2)
		for i, f := range rec[2:] {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || notFinite(v) {
				return nil, nil, bad("%s=%q is not a finite number", header[i+2], f)
			}
			nums[i] = v
		}
		s := Sample{Device: rec[0], Time: t.UTC(), Window: make([][]float64, steps)}
		for j := range steps {
			s.Window[j] = nums[j*nf : (j+1)*nf : (j+1)*nf]
		}
		s.Target = nums[steps*nf:]
		s.Current = []float64{math.NaN(), math.NaN()}
		if ti >= 0 && hi >= 0 {
			last := s.Window[steps-1]
			s.Current = []float64{last[ti], last[hi]}
		}
		samples = append(samples, s)
	}
}

// parseHeader checks a header row against CSVHeader and returns its features and steps.
func parseHeader(h []string) (features []string, steps int, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: header: %s", ErrCSV, fmt.Sprintf(format, args...))
	}
	if len(h) < 3+len(Outputs) || h[0] != "device" || h[1] != "time" {
		return nil, 0, bad("want device, time, the window's columns and %d targets", len(Outputs))
	}
	win := h[2 : len(h)-len(Outputs)]
	// The first block is the oldest step: its columns all end in the same _t-<k>.
	cut := func(col string) (string, string, bool) {
		i := strings.LastIndex(col, "_t")
		if i <= 0 {
			return "", "", false
		}
		return col[:i], col[i:], true
	}
	_, first, ok := cut(win[0])
	if !ok {
		return nil, 0, bad("column %q is not <feature>_t<step>", win[0])
	}
	for _, col := range win {
		f, suffix, ok := cut(col)
		if !ok || suffix != first {
			break
		}
		if slices.Contains(features, f) {
			return nil, 0, bad("feature %q repeated", f)
		}
		features = append(features, f)
	}
	if len(win)%len(features) != 0 {
		return nil, 0, bad("%d window columns for %d features", len(win), len(features))
	}
	steps = len(win) / len(features)
	if steps > 1000 {
		return nil, 0, bad("%d steps, at most 1000", steps)
	}
	if want := CSVHeader(features, steps); !slices.Equal(want, h) {
		for i := range want {
			if want[i] != h[i] {
				return nil, 0, bad("column %d is %q, want %q", i+1, h[i], want[i])
			}
		}
	}
	return features, steps, nil
}

package intake

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/smartx-team/overcloud/functions/reading"
)

// Range is the accepted values of one resource; an open end is infinite.
type Range struct {
	Min, Max float64
}

// Contains reports whether v is within the range, ends included.
func (r Range) Contains(v float64) bool { return v >= r.Min && v <= r.Max }

// String is the range as written in a limits setting ("0:100", "0:", ":80").
func (r Range) String() string {
	end := func(v float64) string {
		if math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return end(r.Min) + ":" + end(r.Max)
}

// Limits maps a resource name to its accepted range; resources not named are not
// checked.
type Limits map[string]Range

// DefaultLimits is what a DHT22 and a Pi can report: temperature -40..80 (the DHT22's
// range, in C), humidity, cpu and disk 0..100 (%), mem >= 0.
const DefaultLimits = "temperature=-40:80,humidity=0:100,cpu=0:100,mem=0:,disk=0:100"

// ParseLimits parses "resource=min:max,..." where either end may be empty (open).
// An empty string means no limits.
func ParseLimits(s string) (Limits, error) {
	l := Limits{}
	s = strings.TrimSpace(s)
	if s == "" {
		return l, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		name, rng, ok := strings.Cut(strings.TrimSpace(item), "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("limit %q: want resource=min:max", clip(item))
		}
		if err := (reading.Reading{ID: "x", Device: "x", Resource: name, Origin: 1, Seq: 1}).Validate(); err != nil {
			return nil, fmt.Errorf("limit %q: bad resource name", clip(item))
		}
		lo, hi, ok := strings.Cut(rng, ":")
		if !ok {
			return nil, fmt.Errorf("limit %q: want min:max with ':' (an end may be empty)", clip(item))
		}
		r := Range{Min: math.Inf(-1), Max: math.Inf(1)}
		var err error
		if r.Min, err = parseEnd(lo, r.Min); err != nil {
			return nil, fmt.Errorf("limit %q: min: %w", clip(item), err)
		}
		if r.Max, err = parseEnd(hi, r.Max); err != nil {
			return nil, fmt.Errorf("limit %q: max: %w", clip(item), err)
		}
		if r.Min > r.Max {
			return nil, fmt.Errorf("limit %q: min is above max", clip(item))
		}
		if _, dup := l[name]; dup {
			return nil, fmt.Errorf("limit for %q given twice", clip(name))
		}
		l[name] = r
	}
	return l, nil
}

func parseEnd(s string, open float64) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return open, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", clip(s))
	}
	return v, nil
}

// String writes the limits back in ParseLimits' form, sorted by resource.
func (l Limits) String() string {
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + l[n].String()
	}
	return strings.Join(parts, ",")
}

package intake

import (
	"math"
	"strings"
	"testing"
)

func TestParseLimits(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		in      string
		want    Limits
		wantErr string
	}{
		{in: "", want: Limits{}},
		{in: DefaultLimits, want: Limits{
			"temperature": {-40, 80}, "humidity": {0, 100}, "cpu": {0, 100}, "mem": {0, inf}, "disk": {0, 100},
		}},
		{in: " t = :5 , h=1.5:2e1", want: Limits{"t": {-inf, 5}, "h": {1.5, 20}}},
		{in: "t=5", wantErr: "min:max"},
		{in: "=1:2", wantErr: "resource=min:max"},
		{in: "t=a:2", wantErr: "min"},
		{in: "t=1:NaN", wantErr: "max"},
		{in: "t=3:2", wantErr: "above"},
		{in: "t=1:2,t=3:4", wantErr: "twice"},
		{in: "t\x01=1:2", wantErr: "resource name"},
	}
	for _, tt := range tests {
		got, err := ParseLimits(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseLimits(%q) error %v, want one with %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseLimits(%q): %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseLimits(%q) = %v, want %v", tt.in, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("ParseLimits(%q)[%s] = %v, want %v", tt.in, k, got[k], v)
			}
		}
	}
}

func FuzzParseLimits(f *testing.F) {
	f.Add(DefaultLimits)
	f.Add("a=:,b=-1e308:1e308")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimits(s)
		if err != nil {
			return
		}
		// What parses writes back to the same limits.
		again, err := ParseLimits(l.String())
		if err != nil {
			t.Fatalf("String() = %q does not parse: %v", l.String(), err)
		}
		if len(again) != len(l) {
			t.Fatalf("round trip changed %v to %v", l, again)
		}
		for k, v := range l {
			if again[k] != v || v.Min > v.Max {
				t.Fatalf("round trip changed %s: %v to %v", k, v, again[k])
			}
		}
	})
}

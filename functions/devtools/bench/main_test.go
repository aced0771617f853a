package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{in: "100,1000,10000", want: []int{100, 1000, 10000}},
		{in: " 5 , 7 ", want: []int{5, 7}},
		{in: "", want: nil},
		{in: "10,", want: []int{10}},
		{in: "0", err: true},
		{in: "-3", err: true},
		{in: "ten", err: true},
	} {
		got, err := sizes("fleets", tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("sizes(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "-fleets") {
			t.Errorf("sizes(%q) error %q does not name the flag", tc.in, err)
		}
	}
}

// A bad flag stops the bench before it starts anything, with exit code 2.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-fleets", "x"}, {"-rack-fleets", "0"}, {"-nope"}, {"-overload-devices", "-1"}, {"-outage", "0s"}, {"-burst", "-1"}, {"-soak", "-1s"}, {"-soak-devices", "0"}, {"-soak-interval", "0s"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and a reason", args, code, &errOut)
		}
	}
}

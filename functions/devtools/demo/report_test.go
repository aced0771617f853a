package main

import (
	"context"
	"errors"
	"testing"
)

// A count that could not be read shows as unknown, whatever number came with the
// error: the progress line once printed 0 right after 4,084 when a query failed.
// A real zero still shows as 0.
func TestCountOrUnknown(t *testing.T) {
	failed := errors.New("influx: query: connection refused")
	for _, tt := range []struct {
		n    int64
		err  error
		want string
	}{
		{4084, nil, "4084"},
		{0, nil, "0"},
		{0, failed, "unknown"},
		{4084, failed, "unknown"},
		{0, context.DeadlineExceeded, "unknown"},
	} {
		if got := countOrUnknown(tt.n, tt.err); got != tt.want {
			t.Errorf("countOrUnknown(%d, %v) = %q, want %q", tt.n, tt.err, got, tt.want)
		}
	}
}

package main

import (
	"os"
	"testing"
)

func TestProcReaders(t *testing.T) {
	// Burn a little CPU so the counter has something to show.
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	_ = x
	ticks, err := cpuTicks(os.Getpid())
	if err != nil || ticks == 0 {
		t.Errorf("cpuTicks = %d, %v", ticks, err)
	}
	rss, hwm, anon, file, err := memory(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss || anon <= 0 || file <= 0 || anon+file > rss+0.1 {
		t.Errorf("memory = %v %v %v %v, %v", rss, hwm, anon, file, err)
	}
	if _, err := cpuTicks(-1); err == nil {
		t.Error("cpuTicks of no process")
	}
}

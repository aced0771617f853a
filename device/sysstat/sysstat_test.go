package sysstat

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestParseCPU(t *testing.T) {
	a, err := ParseCPU([]byte("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseCPU([]byte("cpu  150 0 150 1500 200 0 0 0 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a != (CPUTimes{Busy: 200, Total: 1000}) {
		t.Errorf("a = %+v", a)
	}
	// 100 busy of 1000 ticks.
	if got := b.BusySince(a); got != 10 {
		t.Errorf("BusySince = %v, want 10", got)
	}
	if got := a.BusySince(b); got != 0 {
		t.Errorf("backwards counters = %v, want 0", got)
	}
	for _, in := range []string{"", "intr 1 2 3", "cpu 1 2 x 4 5", "cpu 1 2", "cpu 18446744073709551615 1 0 0"} {
		if _, err := ParseCPU([]byte(in)); err == nil {
			t.Errorf("ParseCPU(%q) accepted", in)
		}
	}
}

func TestParseMemUsed(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"MemTotal:  1000 kB\nMemFree: 100 kB\nMemAvailable:  250 kB\nBuffers: 10 kB\n", 75, true},
		{"MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 50 kB\n", 80, true}, // kernel < 3.14
		{"MemTotal: 1000 kB\nMemAvailable: 5000 kB\n", 0, true},
		{"MemFree: 100 kB\n", 0, false},
		{"MemTotal: lots\n", 0, false},
		{"MemTotal:\n", 0, false},
	} {
		got, err := ParseMemUsed([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMemUsed(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestSampleThisMachine(t *testing.T) {
	s := New("/proc", t.TempDir())
	first, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{first.CPU, first.Mem, first.Disk, second.CPU, second.Mem, second.Disk} {
		if math.IsNaN(v) || v < 0 || v > 100 {
			t.Fatalf("samples %+v %+v out of 0..100", first, second)
		}
	}
	if first.Mem == 0 || first.Disk == 0 {
		t.Errorf("%+v: a running machine uses some memory and disk", first)
	}
}

func TestSampleErrors(t *testing.T) {
	proc := t.TempDir()
	if _, err := New(proc, "/").Sample(); err == nil {
		t.Error("no /proc/stat: no error")
	}
	if err := os.WriteFile(filepath.Join(proc, "stat"), []byte("cpu 1 1 1 1 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "meminfo"), []byte("MemTotal: 10 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(proc, filepath.Join(proc, "missing")).Sample(); err == nil {
		t.Error("missing disk path: no error")
	}
	if st, err := New(proc, proc).Sample(); err != nil || st.Mem != 100 {
		t.Errorf("fake proc: %+v, %v", st, err)
	}
}

func FuzzParseCPU(f *testing.F) {
	f.Add([]byte("cpu  1 2 3 4 5 6 7 8 9 10\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCPU(b)
		if err == nil {
			if c.Busy > c.Total {
				t.Fatalf("busy %d > total %d", c.Busy, c.Total)
			}
			if v := c.BusySince(CPUTimes{}); v < 0 || v > 100 || math.IsNaN(v) {
				t.Fatalf("BusySince = %v", v)
			}
		}
	})
}

func FuzzParseMemUsed(f *testing.F) {
	f.Add([]byte("MemTotal: 1000 kB\nMemAvailable: 250 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseMemUsed(b)
		if err == nil && (v < 0 || v > 100 || math.IsNaN(v)) {
			t.Fatalf("ParseMemUsed(%q) = %v", b, v)
		}
	})
}

package sensor

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// replay is a sensor that returns a script of reads, then fails the test on more.
type replay struct {
	t     *testing.T
	reads []read
}

type read struct {
	s   Sample
	err error
}

func (r *replay) Read(context.Context) (Sample, error) {
	if len(r.reads) == 0 {
		r.t.Fatal("sensor read more often than scripted")
	}
	x := r.reads[0]
	r.reads = r.reads[1:]
	return x.s, x.err
}

func ok(t, h float64) read { return read{s: Sample{t, h}} }

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    []string // "" accepted, else the reason
	}{
		{"normal", []Sample{{24, 45}, {24.1, 45.3}, {24.3, 44.9}}, []string{"", "", ""}},
		{"nan", []Sample{{math.NaN(), 45}, {24, math.Inf(1)}}, []string{ReasonNaN, ReasonNaN}},
		{"range", []Sample{{-41, 45}, {81, 45}, {24, -0.1}, {24, 100.1}, {-40, 0}, {80, 100}}, []string{ReasonOutOfRange, ReasonOutOfRange, ReasonOutOfRange, ReasonOutOfRange, "", "jump"}},
		{"spike then back", []Sample{{24, 45}, {54, 45}, {24.2, 45}}, []string{"", ReasonJump, ""}},
		{"humidity spike", []Sample{{24, 45}, {24, 90}, {24, 45.5}}, []string{"", ReasonJump, ""}},
		{"real step confirmed", []Sample{{24, 45}, {31, 45}, {31.1, 45}, {31.2, 45}, {31.1, 45}}, []string{"", ReasonJump, ReasonJump, "", ""}},
		{"scattered spikes never confirm", []Sample{{24, 45}, {40, 45}, {60, 45}, {40, 45}, {24.1, 45}}, []string{"", ReasonJump, ReasonJump, ReasonJump, ""}},
		{"stuck", []Sample{{24, 45}, {24, 45}, {24, 45}, {24, 45}, {24.1, 45}}, []string{"", "", ReasonStuck, ReasonStuck, ""}},
		{"wrong first baseline recovers", []Sample{{70, 45}, {24, 45}, {24, 45.1}, {24.1, 45}}, []string{"", ReasonJump, ReasonJump, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecked(nil, &CheckOptions{StuckReads: 3, JumpConfirm: 3})
			for i, s := range tc.samples {
				err := c.Check(s)
				var re *RejectError
				got := ""
				if errors.As(err, &re) {
					got = re.Reason
				} else if err != nil {
					t.Fatalf("sample %d: %v is not a RejectError", i, err)
				}
				if got != tc.want[i] {
					t.Errorf("sample %d %+v: got %q, want %q", i, s, got, tc.want[i])
				}
			}
		})
	}
}

func TestCheckedReadRetriesAndCounts(t *testing.T) {
	counted := map[string]int{}
	r := &replay{t: t, reads: []read{
		{err: errors.New("checksum")}, {s: Sample{math.NaN(), 40}}, ok(23.5, 40),
		{err: errors.New("timeout")}, {err: errors.New("timeout")}, {err: errors.New("timeout")},
	}}
	c := NewChecked(r, &CheckOptions{Attempts: 3, RetryGap: time.Millisecond, OnReject: func(s string) { counted[s]++ }})
	s, err := c.Read(context.Background())
	if err != nil || s != (Sample{23.5, 40}) {
		t.Fatalf("Read = %+v, %v; want the third attempt", s, err)
	}
	_, err = c.Read(context.Background())
	if !errors.Is(err, ErrNoValidRead) {
		t.Fatalf("Read after three failures = %v, want ErrNoValidRead", err)
	}
	if counted[ReasonReadError] != 4 || counted[ReasonNaN] != 1 {
		t.Errorf("counted %v", counted)
	}
}

func TestCheckedReadStopsWithContext(t *testing.T) {
	r := &replay{t: t, reads: []read{{err: errors.New("x")}}}
	c := NewChecked(r, &CheckOptions{Attempts: 3, RetryGap: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// fakeIIO makes a sysfs tree like the kernel's dht11 driver's.
func fakeIIO(t *testing.T, temp, hum string) (root, dev string) {
	t.Helper()
	root = t.TempDir()
	other := filepath.Join(root, "bus", "iio", "devices", "iio:device0")
	dev = filepath.Join(root, "bus", "iio", "devices", "iio:device1")
	for _, d := range []string{other, dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// device0 is an ADC without humidity: FindIIO must skip it.
	write(t, filepath.Join(other, IIOTempFile), "1000\n")
	write(t, filepath.Join(dev, IIOTempFile), temp)
	write(t, filepath.Join(dev, IIOHumidityFile), hum)
	return root, dev
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIIO(t *testing.T) {
	root, dev := fakeIIO(t, "23400\n", "45100\n")
	found, err := FindIIO(root)
	if err != nil || found != dev {
		t.Fatalf("FindIIO = %q, %v; want %q", found, err, dev)
	}
	s, err := NewIIO(dev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(context.Background())
	if err != nil || got != (Sample{23.4, 45.1}) {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	write(t, filepath.Join(dev, IIOHumidityFile), "garbage")
	if _, err := s.Read(context.Background()); !errors.Is(err, ErrBadValue) {
		t.Errorf("garbage value: err = %v, want ErrBadValue", err)
	}
	if _, err := FindIIO(t.TempDir()); err == nil {
		t.Error("FindIIO found a device in an empty tree")
	}
	if _, err := NewIIO(t.TempDir()); err == nil {
		t.Error("NewIIO accepted a directory without inputs")
	}
}

func TestParseMilli(t *testing.T) {
	for in, want := range map[string]float64{"23400\n": 23.4, "-1500": -1.5, " 0 ": 0, "100000": 100} {
		if got, err := ParseMilli([]byte(in)); err != nil || got != want {
			t.Errorf("ParseMilli(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.5", "abc", "99999999999"} {
		if _, err := ParseMilli([]byte(in)); err == nil {
			t.Errorf("ParseMilli(%q) accepted", in)
		}
	}
}

func FuzzParseMilli(f *testing.F) {
	f.Add([]byte("23400\n"))
	f.Add([]byte("-"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseMilli(b)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("ParseMilli(%q) = %v", b, v)
		}
	})
}

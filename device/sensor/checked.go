package sensor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Reasons a read is rejected, as counted by Checked's OnReject.
const (
	ReasonReadError  = "read_error"   // the sensor did not answer or answered garbage
	ReasonNaN        = "nan"          // NaN or infinite value
	ReasonOutOfRange = "out_of_range" // outside the sensor's physical range
	ReasonJump       = "jump"         // too far from the last accepted value to be real
	ReasonStuck      = "stuck"        // the same value too many times in a row
)

// DHT22's datasheet range.
const (
	MinTemperature, MaxTemperature = -40.0, 80.0
	MinHumidity, MaxHumidity       = 0.0, 100.0
)

// RejectError says why a read was rejected.
type RejectError struct {
	Reason string
	Detail string
}

func (e *RejectError) Error() string { return "rejected read (" + e.Reason + "): " + e.Detail }

// ErrNoValidRead is wrapped by Checked.Read when every attempt of an interval failed.
var ErrNoValidRead = errors.New("no valid sensor read")

// CheckOptions tune Checked; zero values take the defaults named per field.
type CheckOptions struct {
	// Attempts is how many reads one Read makes at most (default 3).
	Attempts int
	// RetryGap is the wait between attempts (default 2 s, what a DHT22 needs).
	RetryGap time.Duration
	// JumpTemp and JumpHumidity bound the change from the last accepted value
	// (defaults 5 C and 20 %). After JumpConfirm rejected jumps in a row that agree
	// with each other, the new level is believed: a real change, or a wrong baseline.
	JumpTemp, JumpHumidity float64
	// JumpConfirm (default 3).
	JumpConfirm int
	// StuckReads identical reads in a row are a frozen sensor (default 30: five
	// minutes at 10 s; a DHT22 reads in 0.1 steps, so a live one rarely repeats both
	// values that long). Further identical reads are rejected until the value moves.
	StuckReads int
	// OnReject is called with the reason of every rejected attempt (nil: not counted).
	OnReject func(reason string)
}

// Checked wraps a Sensor and rejects what no real room produces. It is not safe for
// concurrent use; the firmware reads from one goroutine.
type Checked struct {
	s    Sensor
	o    CheckOptions
	last *Sample // last accepted

	prevRaw  Sample // last read the sensor returned, accepted or not
	same     int    // reads in a row equal to prevRaw
	jumps    int    // rejected jumps in a row
	jumpBase Sample // first of those jumps
}

var _ Sensor = (*Checked)(nil)

// NewChecked wraps s; nil options take the defaults.
func NewChecked(s Sensor, o *CheckOptions) *Checked {
	var opts CheckOptions
	if o != nil {
		opts = *o
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.RetryGap <= 0 {
		opts.RetryGap = 2 * time.Second
	}
	if opts.JumpTemp <= 0 {
		opts.JumpTemp = 5
	}
	if opts.JumpHumidity <= 0 {
		opts.JumpHumidity = 20
	}
	if opts.JumpConfirm <= 0 {
		opts.JumpConfirm = 3
	}
	if opts.StuckReads <= 1 {
		opts.StuckReads = 30
	}
	if opts.OnReject == nil {
		opts.OnReject = func(string) {}
	}
	return &Checked{s: s, o: opts}
}

// Read reads until one sample passes Check, at most Attempts times, RetryGap apart.
// It fails with ErrNoValidRead (wrapping the last reason) or the context's error.
func (c *Checked) Read(ctx context.Context) (Sample, error) {
	var last error
	for i := range c.o.Attempts {
		if i > 0 {
			t := time.NewTimer(c.o.RetryGap)
			select {
			case <-ctx.Done():
				t.Stop()
				return Sample{}, ctx.Err()
			case <-t.C:
			}
		}
		s, err := c.s.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Sample{}, ctx.Err()
			}
			c.o.OnReject(ReasonReadError)
			last = &RejectError{Reason: ReasonReadError, Detail: err.Error()}
			continue
		}
		if err := c.Check(s); err != nil {
			var re *RejectError
			if errors.As(err, &re) {
				c.o.OnReject(re.Reason)
			}
			last = err
			continue
		}
		return s, nil
	}
	return Sample{}, fmt.Errorf("%w after %d attempts: %w", ErrNoValidRead, c.o.Attempts, last)
}

// Check decides whether s is believable given what came before, and remembers it.
// It returns nil or a *RejectError.
func (c *Checked) Check(s Sample) error {
	if !finite(s.Temperature) || !finite(s.Humidity) {
		return &RejectError{ReasonNaN, fmt.Sprintf("temperature %v, humidity %v", s.Temperature, s.Humidity)}
	}
	if s.Temperature < MinTemperature || s.Temperature > MaxTemperature || s.Humidity < MinHumidity || s.Humidity > MaxHumidity {
		return &RejectError{ReasonOutOfRange, fmt.Sprintf("temperature %.1f C, humidity %.1f %%", s.Temperature, s.Humidity)}
	}
	if s == c.prevRaw {
		c.same++
	} else {
		c.prevRaw, c.same = s, 1
	}
	if c.same >= c.o.StuckReads {
		return &RejectError{ReasonStuck, fmt.Sprintf("%d identical reads (%.1f C, %.1f %%)", c.same, s.Temperature, s.Humidity)}
	}
	if c.last != nil && (math.Abs(s.Temperature-c.last.Temperature) > c.o.JumpTemp || math.Abs(s.Humidity-c.last.Humidity) > c.o.JumpHumidity) {
		// A level that several reads in a row agree on is real, however far it is.
		if c.jumps == 0 || !c.near(s, c.jumpBase) {
			c.jumps, c.jumpBase = 0, s
		}
		c.jumps++
		if c.jumps < c.o.JumpConfirm {
			return &RejectError{ReasonJump, fmt.Sprintf("%.1f C, %.1f %% after %.1f C, %.1f %%", s.Temperature, s.Humidity, c.last.Temperature, c.last.Humidity)}
		}
	}
	c.jumps = 0
	c.last = &s
	return nil
}

func (c *Checked) near(a, b Sample) bool {
	return math.Abs(a.Temperature-b.Temperature) <= c.o.JumpTemp && math.Abs(a.Humidity-b.Humidity) <= c.o.JumpHumidity
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

package sim

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/device/sensor"
)

// clock is a hand-stepped real clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time       { return c.t }
func (c *clock) step(d time.Duration) { c.t = c.t.Add(d) }
func at(hour int) *clock              { return &clock{time.Date(2026, 7, 1, hour, 0, 0, 0, time.Local)} }
func near(a, b, tol float64) bool     { return math.Abs(a-b) <= tol }
func quiet() *Params                  { p := DefaultParams(); p.GlitchRate = 0; return &p }
func newRoom(c *clock, sp float64) *Room {
	return New(Options{Params: quiet(), SetPoint: sp, Now: c.now, Seed: 1})
}

func TestSteadyState(t *testing.T) {
	// At 15:00 the outside is 28 C and the load 3000 (1 + 0.2 cos(pi/12)) W; with the
	// air conditioner below its capacity, Q_it + UA (T_o - T) = K (T - S).
	p := DefaultParams()
	qit := p.ITLoad * (1 + p.LoadSwing*math.Cos(2*math.Pi/24))
	for _, sp := range []float64{16, 24, 30} {
		want := (qit + p.Envelope*28 + p.ACGain*sp) / (p.Envelope + p.ACGain)
		r := newRoom(at(15), sp)
		st := r.State()
		if !near(st.Temperature, want, 0.01) {
			t.Errorf("set-point %v: steady temperature %.2f, want about %v", sp, st.Temperature, want)
		}
		if st.Humidity < 30 || st.Humidity > 70 {
			t.Errorf("set-point %v: humidity %.1f%% is not a server room's", sp, st.Humidity)
		}
		if st.Cooling <= 0 || st.Cooling >= DefaultParams().ACMax {
			t.Errorf("set-point %v: cooling %.0f W, want between 0 and the capacity", sp, st.Cooling)
		}
	}
}

// TestClosedLoop: lowering the set-point cools the room with the model's time
// constant (about four minutes) to the new steady state; the air conditioner works
// harder meanwhile, and the coil dries the air.
func TestClosedLoop(t *testing.T) {
	p := DefaultParams()
	c := at(10)
	r := newRoom(c, 24)
	start := r.State()
	if err := r.SetPoint(context.Background(), 22); err != nil {
		t.Fatal(err)
	}
	c.step(time.Second)
	if got := r.State(); got.Cooling < start.Cooling+2500 {
		t.Errorf("cooling right after the change %.0f W, want about 3000 W above %.0f", got.Cooling, start.Cooling)
	}
	// The new steady state is K/(K+UA) of the set-point change lower, reached with
	// the time constant C/(K+UA); inputs drift slowly with the hour, hence the margins.
	gap := 2 * p.ACGain / (p.ACGain + p.Envelope)
	tau := time.Duration(p.Capacity / (p.ACGain + p.Envelope) * float64(time.Second))
	c.step(tau)
	if drop := start.Temperature - r.State().Temperature; drop < 0.55*gap || drop > 0.72*gap {
		t.Errorf("after one time constant (%v) the room dropped %.2f C of %.2f, want about 63%%", tau, drop, gap)
	}
	c.step(30 * time.Minute)
	end := r.State()
	if !near(start.Temperature-end.Temperature, gap, 0.15) {
		t.Errorf("settled at %.2f C from %.2f, want %.2f C lower", end.Temperature, start.Temperature, gap)
	}
	if end.Humidity == start.Humidity {
		t.Error("humidity did not respond to the set-point")
	}
	// A large step saturates the air conditioner: the room cools at full capacity.
	if err := r.SetPoint(context.Background(), 16); err != nil {
		t.Fatal(err)
	}
	c.step(time.Second)
	if got := r.State().Cooling; got != p.ACMax {
		t.Errorf("cooling after a 6 C step = %.0f W, want the full %.0f W", got, p.ACMax)
	}
}

func TestOutsideAndLoadDriveTheRoom(t *testing.T) {
	night, day := newRoom(at(3), 24).State(), newRoom(at(15), 24).State()
	if !(day.Outside > night.Outside+10 && day.Temperature > night.Temperature) {
		t.Errorf("night %+v, day %+v: the afternoon must be warmer outside and inside", night, day)
	}
}

func TestSensorNoiseAndResolution(t *testing.T) {
	c := at(12)
	r := newRoom(c, 22)
	truth := r.State()
	var sumT, sumH float64
	const n = 2000
	for range n {
		s, err := r.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.Temperature*10 != math.Round(s.Temperature*10) || s.Humidity*10 != math.Round(s.Humidity*10) {
			t.Fatalf("%+v is not in the DHT22's 0.1 steps", s)
		}
		sumT += s.Temperature
		sumH += s.Humidity
	}
	if !near(sumT/n, truth.Temperature, 0.02) || !near(sumH/n, truth.Humidity, 0.1) {
		t.Errorf("mean read %.3f C %.2f %%, truth %.3f C %.2f %%", sumT/n, sumH/n, truth.Temperature, truth.Humidity)
	}
}

// TestGlitchesAreCaught: every kind of simulated glitch is one the firmware's check
// rejects.
func TestGlitchesAreCaught(t *testing.T) {
	p := DefaultParams()
	p.GlitchRate = 1
	r := New(Options{Params: &p, Now: at(12).now, Seed: 7})
	good := newRoom(at(12), 24)
	chk := sensor.NewChecked(nil, nil)
	base, _ := good.Read(context.Background())
	if err := chk.Check(base); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for range 200 {
		s, err := r.Read(context.Background())
		if err != nil {
			if !errors.Is(err, ErrChecksum) {
				t.Fatal(err)
			}
			kinds["checksum"] = true
			continue
		}
		var re *sensor.RejectError
		if err := chk.Check(s); !errors.As(err, &re) {
			t.Fatalf("glitch %+v passed the check", s)
		}
		kinds[re.Reason] = true
		chk = sensor.NewChecked(nil, nil) // keep the baseline at base
		_ = chk.Check(base)
	}
	for _, k := range []string{"checksum", sensor.ReasonNaN, sensor.ReasonJump, sensor.ReasonOutOfRange} {
		if !kinds[k] {
			t.Errorf("no %s glitch in 200 reads", k)
		}
	}
}

func TestSpeedAndAdvance(t *testing.T) {
	c := at(9)
	r := New(Options{Params: quiet(), Now: c.now, Speed: 60, Seed: 1})
	c.step(time.Minute)
	if got := r.State().Time.Sub(at(9).t); got != time.Hour {
		t.Errorf("one real minute at speed 60 = %v simulated, want 1h", got)
	}
	r.Advance(time.Hour)
	c.step(time.Minute)
	if got := r.State().Time.Sub(at(9).t); got != 3*time.Hour {
		t.Errorf("after Advance(1h) and another minute: %v simulated, want 3h", got)
	}
	// A long gap restarts from the steady state instead of integrating days.
	c.step(7 * 24 * time.Hour)
	if st := r.State(); math.IsNaN(st.Temperature) || st.Temperature < 15 || st.Temperature > 35 {
		t.Errorf("after a long gap: %+v", st)
	}
}

func TestDeterministicWithSeed(t *testing.T) {
	a, b := newRoom(at(12), 24), newRoom(at(12), 24)
	for range 50 {
		x, _ := a.Read(context.Background())
		y, _ := b.Read(context.Background())
		if x != y {
			t.Fatalf("same seed, different reads: %+v %+v", x, y)
		}
	}
}

// The power model is calibrated to the published range: one degree F more set-point
// cuts the power for the same heat by 2-5 %, over the usual set-points (18-24 C) and
// outside temperatures (10-30 C); its COP is that of a room air conditioner.
func TestACPowerPerDegreeF(t *testing.T) {
	p := DefaultParams()
	if cop := p.COP(18, 22); cop < 3 || cop > 4.5 {
		t.Errorf("COP at 18 C set-point, 22 C outside = %.2f, want a room air conditioner's 3-4.5", cop)
	}
	const degreeF = 5.0 / 9
	for _, s := range []float64{18, 20, 22, 24} {
		for _, to := range []float64{10, 16, 22, 28, 30} {
			saving := 1 - p.ACPower(5000, s+degreeF, to)/p.ACPower(5000, s, to)
			if saving < 0.02 || saving > 0.05 {
				t.Errorf("set-point %v C, outside %v C: %.1f %% saved per degree F, want 2-5 %%", s, to, 100*saving)
			}
		}
	}
	if got := p.ACPower(0, 18, 22); got != 0 {
		t.Errorf("power with no cooling = %v", got)
	}
}

// A weather source replaces the fixed daily swing as the outside boundary, and the
// state reports the power drawn for the cooling.
func TestWeatherDrivesTheRoom(t *testing.T) {
	hot := func(time.Time) (float64, float64) { return 35, 80 }
	cold := func(time.Time) (float64, float64) { return 0, 60 }
	c := at(12)
	sh := New(Options{SetPoint: 24, Now: c.now, Seed: 1, Weather: hot}).State()
	sc := New(Options{SetPoint: 24, Now: c.now, Seed: 1, Weather: cold}).State()
	if sh.Outside != 35 || sc.Outside != 0 || math.Abs(sh.OutsideRH-80) > 0.01 {
		t.Fatalf("outside %v/%v %%, %v: the weather source was not used", sh.Outside, sh.OutsideRH, sc.Outside)
	}
	if !(sh.Temperature > sc.Temperature && sh.Cooling > sc.Cooling && sh.Power > sc.Power) {
		t.Errorf("hot %+v, cold %+v: a hot day must warm the room and cost more cooling and power", sh, sc)
	}
	if want := DefaultParams().ACPower(sh.Cooling, 24, 35); math.Abs(sh.Power-want) > 1e-9 {
		t.Errorf("power %v, want %v", sh.Power, want)
	}
}

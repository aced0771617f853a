// Package sim is a small thermal model of one sector of a server room, so that the
// closed loop (set-point -> room -> readings) can be watched without hardware. Room
// is both the simulated sensor (sensor.Sensor) and the simulated air conditioner
// (actuator.Actuator).
//
// # Model
//
// The sector is one lumped thermal mass at temperature T (C) holding air of
// humidity ratio w (g of water per kg of dry air). With the set-point S, the server
// heat load Q_it, the outside temperature T_o and humidity ratio w_o:
//
//	Q_ac  = min(Q_max, max(0, K (T - S)))                  cooling, W (proportional AC)
//	C dT/dt = Q_it + UA (T_o - T) - Q_ac                    heat balance
//	dw/dt = n (w_o - w) - d (Q_ac / Q_max) max(0, w - w_c)  air exchange, coil drying
//	w_c   = w_sat(S - dT_coil)                              the coil's saturation
//	T_o(h)  = T_om + T_oa cos(2 pi (h - 15) / 24)           daily swing, warmest at 15:00
//	Q_it(h) = P (1 + a cos(2 pi (h - 14) / 24))             busiest at 14:00
//	RH    = 100 p_v / p_sat(T),  p_v = p w / (622 + w)      relative humidity, %
//	p_sat(T) = 0.61094 exp(17.625 T / (T + 243.04)) kPa     Magnus formula
//
// h is the hour of the simulated day (local time of the simulated clock). When a
// Weather source is given (Options.Weather, for example a simulated year), T_o and the
// outside relative humidity are taken from it instead of the fixed daily swing: the
// room's physics are the same, only its outside boundary changes. The
// equations are integrated with explicit Euler steps of at most 10 simulated
// seconds, far below the time constant C / (K + UA) of about four minutes.
//
// With the defaults (Params), at the daily means of outside temperature and load,
// the room settles about 1.9 C above the set-point (the droop of a proportional
// controller carrying 3 kW): 25.9 C at S = 24, 18.2 C at S = 16, near 49 % relative
// humidity. A set-point step of dS moves the room by K dS / (K + UA) with the time
// constant C / (K + UA); steps of more than about 3 C saturate the air conditioner,
// which then cools at Q_max.
//
// # Electric power of the air conditioner
//
// The model above gives the heat the air conditioner removes, Q_ac. What it draws is
// Q_ac / COP, with the coefficient of performance a fixed fraction eta of the Carnot
// COP between the coil and the condenser:
//
//	T_coil = S - dT_coil                                   evaporator, K below the set-point
//	T_cond = max(T_o + dT_cond, T_cond,min)                condenser above the outside air
//	COP    = eta (T_coil + 273.15) / (T_cond - T_coil)
//	P_ac   = Q_ac / COP
//
// With eta = 0.3, dT_cond = 8 K (air-cooled condensers are selected for an approach
// of about 8-15 K) and T_cond,min = 27 C (the head-pressure control of small split
// units holds the condensing temperature up in cold weather), COP is about 3.8 at
// S = 18 C and 22 C outside, that of a room air conditioner. One degree F higher
// set-point (a warmer coil, a smaller lift) cuts the power for the same heat by 2-5 %
// over set-points of 18-24 C and outside temperatures of 10-30 C (1.9 % at 18 C and
// 32 C outside, where the lift is largest), the range published
// for raising the set-point (ENERGY STAR gives 4-5 % per degree F of server inlet
// temperature, which also counts the fans); the approach was chosen inside its usual
// range so that the model lands in that published range. The model has no fan power
// and no latent load.
//
// What the sensor returns is T and RH plus Gaussian noise (sigma 0.1 C and 0.5 %),
// rounded to the DHT22's 0.1 steps; a fraction GlitchRate of reads fail the way
// DHT22 reads fail: a checksum error, NaN, an impossible spike, or a value out of
// range, so that the firmware's validation is exercised in simulation too.
package sim

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/smartx-team/overcloud/device/actuator"
	"github.com/smartx-team/overcloud/device/sensor"
)

// Params are the model's constants; DefaultParams gives a 3 kW sector.
type Params struct {
	Capacity     float64 // C: thermal capacity of air, racks and walls, J/K (400 kJ/K)
	ITLoad       float64 // P: mean server heat load, W (3000)
	LoadSwing    float64 // a: daily relative swing of the load (0.2)
	Envelope     float64 // UA: conductance to the outside, W/K (60)
	ACGain       float64 // K: cooling per kelvin above the set-point, W/K (1500)
	ACMax        float64 // Q_max: cooling capacity, W (7000)
	CoilOffset   float64 // dT_coil: coil temperature below the set-point, K (10)
	OutsideMean  float64 // T_om: mean outside temperature, C (22)
	OutsideSwing float64 // T_oa: daily half-swing of the outside temperature, K (6)
	OutsideRH    float64 // outside relative humidity, % (65)
	AirExchange  float64 // n: air changes per second (1/3600)
	Drying       float64 // d: coil drying rate at full cooling, 1/s (1/900)
	NoiseTemp    float64 // sensor noise, C (0.1)
	NoiseRH      float64 // sensor noise, % (0.5)
	GlitchRate   float64 // fraction of reads that fail like a DHT22 read can (0.01)
	COPFraction  float64 // eta: the air conditioner's COP as a fraction of Carnot's (0.3)
	CondApproach float64 // dT_cond: condensing temperature above the outside air, K (8)
	CondMin      float64 // T_cond,min: lowest condensing temperature, C (27)
}

// DefaultParams describe a 3 kW sector with a 7 kW air conditioner.
func DefaultParams() Params {
	return Params{
		Capacity: 400e3, ITLoad: 3000, LoadSwing: 0.2, Envelope: 60,
		ACGain: 1500, ACMax: 7000, CoilOffset: 10,
		OutsideMean: 22, OutsideSwing: 6, OutsideRH: 65,
		AirExchange: 1.0 / 3600, Drying: 1.0 / 900,
		NoiseTemp: 0.1, NoiseRH: 0.5, GlitchRate: 0.01,
		COPFraction: 0.3, CondApproach: 8, CondMin: 27,
	}
}

// Options set up a Room; zero values take the defaults named per field.
type Options struct {
	// Params of the model (default DefaultParams()).
	Params *Params
	// SetPoint at the start, C (default 24).
	SetPoint float64
	// Speed is how many simulated seconds pass per real second (default 1).
	Speed float64
	// Seed of the noise (default: from the clock).
	Seed uint64
	// Now is the real clock (default time.Now); tests step it by hand.
	Now func() time.Time
	// Weather, when set, gives the outside temperature (C) and relative humidity (%)
	// at a simulated time, in place of the fixed daily swing of Params.
	Weather func(at time.Time) (temperature, humidity float64)
}

// Room is one simulated sector. It is safe for concurrent use: the sensor is read
// by the sampler while commands set the set-point.
type Room struct {
	p       Params
	speed   float64
	now     func() time.Time
	weather func(time.Time) (float64, float64)

	mu       sync.Mutex
	rng      *rand.Rand
	wall0    time.Time // real time at the start
	sim0     time.Time // simulated time at the start
	simAt    time.Time // simulated time the state is at
	t, w     float64   // temperature, humidity ratio
	setpoint float64
}

var (
	_ sensor.Sensor     = (*Room)(nil)
	_ actuator.Actuator = (*Room)(nil)
)

// New returns a room in equilibrium with its start set-point, at the real clock's
// current time.
func New(o Options) *Room {
	p := DefaultParams()
	if o.Params != nil {
		p = *o.Params
	}
	if o.SetPoint == 0 {
		o.SetPoint = 24
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := o.Now()
	if o.Seed == 0 {
		o.Seed = uint64(start.UnixNano())
	}
	r := &Room{
		p: p, speed: o.Speed, now: o.Now, weather: o.Weather,
		rng:   rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		wall0: start, sim0: start, simAt: start,
		setpoint: o.SetPoint,
	}
	// Start from the steady state, so the first readings are not a transient.
	r.t, r.w = r.steady(start)
	return r
}

// steady solves the model for dT/dt = 0 and dw/dt = 0 at the inputs of time at.
func (r *Room) steady(at time.Time) (t, w float64) {
	to, wo, qit := r.inputs(at)
	p := r.p
	// Unsaturated AC: Q_it + UA (T_o - T) = K (T - S).
	t = (qit + p.Envelope*to + p.ACGain*r.setpoint) / (p.Envelope + p.ACGain)
	if q := p.ACGain * (t - r.setpoint); q > p.ACMax {
		t = (qit + p.Envelope*to - p.ACMax) / p.Envelope
	} else if q < 0 {
		t = to + qit/p.Envelope
	}
	duty := r.duty(t)
	wc := humidityRatio(r.setpoint-p.CoilOffset, 100)
	// n (w_o - w) = d duty (w - w_c), when w > w_c.
	w = (p.AirExchange*wo + p.Drying*duty*wc) / (p.AirExchange + p.Drying*duty)
	if w < wc {
		w = wo
	}
	return t, w
}

func (r *Room) inputs(at time.Time) (to, wo, qit float64) {
	h := float64(at.Hour()) + float64(at.Minute())/60 + float64(at.Second())/3600
	rho := r.p.OutsideRH
	if r.weather != nil {
		to, rho = r.weather(at)
	} else {
		to = r.p.OutsideMean + r.p.OutsideSwing*math.Cos(2*math.Pi*(h-15)/24)
	}
	wo = humidityRatio(to, rho)
	qit = r.p.ITLoad * (1 + r.p.LoadSwing*math.Cos(2*math.Pi*(h-14)/24))
	return to, wo, qit
}

func (r *Room) duty(t float64) float64 {
	q := math.Min(r.p.ACMax, math.Max(0, r.p.ACGain*(t-r.setpoint)))
	return q / r.p.ACMax
}

// advance integrates the model up to the simulated time of the real clock's now.
// Gaps longer than two simulated days restart from the steady state.
func (r *Room) advance() {
	target := r.sim0.Add(time.Duration(float64(r.now().Sub(r.wall0)) * r.speed))
	r.advanceTo(target)
}

func (r *Room) advanceTo(target time.Time) {
	total := target.Sub(r.simAt)
	if total <= 0 {
		return
	}
	if total > 48*time.Hour {
		r.simAt = target
		r.t, r.w = r.steady(target)
		return
	}
	const step = 10 * time.Second
	p := r.p
	for r.simAt.Before(target) {
		dt := min(step, target.Sub(r.simAt))
		to, wo, qit := r.inputs(r.simAt)
		duty := r.duty(r.t)
		wc := humidityRatio(r.setpoint-p.CoilOffset, 100)
		s := dt.Seconds()
		dT := (qit + p.Envelope*(to-r.t) - duty*p.ACMax) / p.Capacity
		dw := p.AirExchange*(wo-r.w) - p.Drying*duty*math.Max(0, r.w-wc)
		r.t += dT * s
		r.w += dw * s
		r.simAt = r.simAt.Add(dt)
	}
}

// Advance moves simulated time forward by d, whatever the real clock says; for
// tests and for fast-forwarding a demo.
func (r *Room) Advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	r.sim0 = r.sim0.Add(d)
	r.advanceTo(r.simAt.Add(d))
}

// State is the model's true state, without sensor noise.
type State struct {
	Time        time.Time // simulated time
	Temperature float64   // C
	Humidity    float64   // relative, %
	SetPoint    float64   // C
	Cooling     float64   // W removed by the air conditioner
	Power       float64   // W the air conditioner draws (see "Electric power")
	Outside     float64   // C
	OutsideRH   float64   // %
	ITLoad      float64   // W of server heat
}

// State returns the true state at the real clock's now.
func (r *Room) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	to, wo, qit := r.inputs(r.simAt)
	cooling := r.duty(r.t) * r.p.ACMax
	return State{
		Time: r.simAt, Temperature: r.t, Humidity: relativeHumidity(r.t, r.w),
		SetPoint: r.setpoint, Cooling: cooling, Power: r.p.ACPower(cooling, r.setpoint, to),
		Outside: to, OutsideRH: relativeHumidity(to, wo), ITLoad: qit,
	}
}

// COP is the air conditioner's coefficient of performance at set-point s and outside
// temperature to (see "Electric power" in the package doc).
func (p Params) COP(s, to float64) float64 {
	coil := s - p.CoilOffset
	cond := math.Max(to+p.CondApproach, p.CondMin)
	return p.COPFraction * (coil + 273.15) / (cond - coil)
}

// ACPower is the electric power, W, the air conditioner draws to remove cooling W at
// set-point s with the outside at to C.
func (p Params) ACPower(cooling, s, to float64) float64 {
	if cooling <= 0 {
		return 0
	}
	return cooling / p.COP(s, to)
}

// ErrChecksum is the simulated DHT22 read failure.
var ErrChecksum = errors.New("sim: checksum mismatch")

// Read measures the room like a DHT22 would, glitches included.
func (r *Room) Read(ctx context.Context) (sensor.Sample, error) {
	if err := ctx.Err(); err != nil {
		return sensor.Sample{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	s := sensor.Sample{
		Temperature: round1(r.t + r.rng.NormFloat64()*r.p.NoiseTemp),
		Humidity:    round1(math.Min(100, math.Max(0, relativeHumidity(r.t, r.w)+r.rng.NormFloat64()*r.p.NoiseRH))),
	}
	if r.rng.Float64() < r.p.GlitchRate {
		switch r.rng.IntN(4) {
		case 0:
			return sensor.Sample{}, ErrChecksum
		case 1:
			s.Humidity = math.NaN()
		case 2:
			s.Temperature += 30 // a flipped high bit
		default:
			s.Humidity = 3276.7 // the value a 0xFFFF frame decodes to
		}
	}
	return s, nil
}

// SetPoint changes the air conditioner's set-point from now on.
func (r *Room) SetPoint(ctx context.Context, c float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	r.setpoint = c
	return nil
}

// pressure is the standard atmosphere, kPa.
const pressure = 101.325

func saturation(t float64) float64 { return 0.61094 * math.Exp(17.625*t/(t+243.04)) }

// humidityRatio is w (g/kg) of air at t C and rh %.
func humidityRatio(t, rh float64) float64 {
	pv := saturation(t) * rh / 100
	return 622 * pv / (pressure - pv)
}

func relativeHumidity(t, w float64) float64 {
	pv := pressure * w / (622 + w)
	return math.Min(100, math.Max(0, 100*pv/saturation(t)))
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

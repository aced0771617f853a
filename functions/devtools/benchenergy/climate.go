package main

import (
	"math"
	"math/rand/v2"
	"time"
)

// Climate is a simulated year of outside weather like Gwangju's (35.2 N, a humid
// subtropical climate with cold, dry winters and hot, humid, rainy summers), seeded so
// that a year can be replayed exactly and two seeds give two different years:
//
//   - the seasons: monthly mean temperatures and relative humidities close to Gwangju's
//     climate normals (Jan 0.6 C, 68 %; Aug 26.9 C, 80 %), interpolated between the
//     middles of the months;
//   - the daily swing: warmest at 15:00, coolest at 03:00, 4 to 5 K either way (wider
//     in spring and autumn, narrower in the rainy summer); humidity swings the other
//     way, as the same water in warmer air is less relative humidity;
//   - the weather: slow anomalies over days, an AR(1) process on the hour (temperature
//     sigma 2.5 K, correlation time 3 days; humidity sigma 8 %, 2 days).
type Climate struct {
	start        time.Time
	tempAnomaly  []float64 // per hour from start
	humidAnomaly []float64
}

var (
	monthlyTemp  = [12]float64{0.6, 2.4, 7.1, 13.0, 18.4, 22.7, 26.2, 26.9, 22.5, 16.2, 9.4, 2.9}
	monthlyRH    = [12]float64{68, 65, 63, 63, 67, 75, 82, 80, 77, 72, 70, 69}
	monthlySwing = [12]float64{4.0, 4.3, 4.8, 5.0, 4.8, 4.0, 3.5, 3.8, 4.3, 4.8, 4.5, 4.0}
)

// NewClimate makes days of weather from start (UTC), from seed.
func NewClimate(start time.Time, days int, seed uint64) *Climate {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	hours := days*24 + 2
	c := &Climate{start: start, tempAnomaly: make([]float64, hours), humidAnomaly: make([]float64, hours)}
	ar := func(out []float64, sigma, tauHours float64) {
		phi := math.Exp(-1 / tauHours)
		innov := sigma * math.Sqrt(1-phi*phi)
		x := rng.NormFloat64() * sigma
		for i := range out {
			out[i] = x
			x = phi*x + innov*rng.NormFloat64()
		}
	}
	ar(c.tempAnomaly, 2.5, 72)
	ar(c.humidAnomaly, 8, 48)
	return c
}

// At is the outside temperature (C) and relative humidity (%) at t.
func (c *Climate) At(t time.Time) (temp, rh float64) {
	h := t.Sub(c.start).Hours()
	i := int(math.Floor(h))
	f := h - float64(i)
	i = max(0, min(i, len(c.tempAnomaly)-2))
	ta := c.tempAnomaly[i]*(1-f) + c.tempAnomaly[i+1]*f
	ha := c.humidAnomaly[i]*(1-f) + c.humidAnomaly[i+1]*f

	mean, meanRH, swing := seasonal(t)
	hour := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	daily := math.Cos(2 * math.Pi * (hour - 15) / 24)
	temp = mean + ta + swing*daily
	rh = meanRH + ha - 2.5*swing*daily
	return temp, math.Min(100, math.Max(15, rh))
}

// seasonal interpolates the monthly normals between the middles of the months.
func seasonal(t time.Time) (temp, rh, swing float64) {
	year := t.Year()
	mid := func(m int) time.Time { // the middle of month m (0-11) of year, may wrap
		return time.Date(year, time.Month(m+1), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 15)
	}
	m := int(t.Month()) - 1
	a, b := m, m+1
	if t.Before(mid(m)) {
		a, b = m-1, m
	}
	ta, tb := mid(a), mid(b)
	f := t.Sub(ta).Hours() / tb.Sub(ta).Hours()
	ia, ib := (a+12)%12, b%12
	lerp := func(v [12]float64) float64 { return v[ia]*(1-f) + v[ib]*f }
	return lerp(monthlyTemp), lerp(monthlyRH), lerp(monthlySwing)
}

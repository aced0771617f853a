// Package roomtest makes a plausible history of a server room for the trainer's
// tests: each device a simulated sector (device/sim) whose set-point an operator
// changes every half hour to two and a half hours, read every Every like the
// firmware reads it, with the outside weather the sender would add, some readings
// lost and an outage per device. Only tests import it.
package roomtest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/smartx-team/overcloud/device/sim"
	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
)

// Options describe the history; zero values take the defaults named.
type Options struct {
	Devices  int           // sectors, named pi-1, pi-2, ... (default 2)
	Start    time.Time     // first reading (default 2026-03-01T00:00:00Z)
	Duration time.Duration // length of the history (default 72h)
	Every    time.Duration // time between readings (default 20s)
	Seed     uint64        // of everything random (default 1)
	// Weather adds ext_temperature, ext_humidity and weather_stat to each reading, as
	// the sender does when it has the weather.
	Weather bool
	// Lost is the fraction of readings lost (default 0.002); each device also has
	// one outage of 30 minutes.
	Lost float64
}

// Reading is one point as the sender writes it: device, origin time, fields by the
// names InfluxDB has (weather_stat, not weather).
type Reading struct {
	Device string
	Time   time.Time
	Fields map[string]float64
}

// Generate makes the readings, sorted by time then device.
func Generate(o Options) []Reading {
	if o.Devices == 0 {
		o.Devices = 2
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Duration == 0 {
		o.Duration = 72 * time.Hour
	}
	if o.Every == 0 {
		o.Every = 20 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Lost == 0 {
		o.Lost = 0.002
	}
	var out []Reading
	for d := range o.Devices {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(d)))
		p := sim.DefaultParams()
		p.GlitchRate = 0 // the firmware drops glitches before they are sent
		p.ITLoad = 2500 + 1000*rng.Float64()
		start := o.Start
		room := sim.New(sim.Options{Params: &p, SetPoint: 24, Seed: o.Seed*100 + uint64(d) + 1, Now: func() time.Time { return start }})
		ctx := context.Background()
		dev := fmt.Sprintf("pi-%d", d+1)
		nextChange := start.Add(time.Duration(30+rng.IntN(120)) * time.Minute)
		outage := start.Add(time.Duration(rng.Int64N(int64(o.Duration - time.Hour))))
		weather := 6.0
		for at := start; at.Before(start.Add(o.Duration)); at = at.Add(o.Every) {
			if !at.Before(nextChange) {
				_ = room.SetPoint(ctx, float64(18+rng.IntN(10)))
				nextChange = at.Add(time.Duration(30+rng.IntN(120)) * time.Minute)
			}
			if rng.Float64() < 0.0005 {
				weather = float64(6 + rng.IntN(3)) // clear, clouds, mist
			}
			s, err := room.Read(ctx)
			st := room.State()
			room.Advance(o.Every)
			if err != nil || rng.Float64() < o.Lost || (!at.Before(outage) && at.Before(outage.Add(30*time.Minute))) {
				continue
			}
			h := float64(at.Hour()) + float64(at.Minute())/60
			f := map[string]float64{
				"temperature": s.Temperature, "humidity": s.Humidity, "setpoint": st.SetPoint,
				"cpu": math.Round(10*(30+20*math.Cos(2*math.Pi*(h-14)/24)+2*rng.NormFloat64())) / 10,
			}
			if o.Weather {
				f["ext_temperature"] = math.Round(10*(st.Outside+0.3*rng.NormFloat64())) / 10
				f["ext_humidity"] = math.Round(p.OutsideRH + 2*rng.NormFloat64())
				f["weather_stat"] = weather
			}
			out = append(out, Reading{Device: dev, Time: at, Fields: f})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Rows resamples readings as the trainer's Flux query does: per device and step the
// mean of each field, the set-point's last value, weather_stat as weather, a row's
// time its step's start.
func Rows(readings []Reading, step time.Duration) []learn.Row {
	type key struct {
		dev string
		at  time.Time
	}
	sums := map[key]map[string][2]float64{}
	for _, r := range readings {
		k := key{r.Device, r.Time.Truncate(step)}
		if sums[k] == nil {
			sums[k] = map[string][2]float64{}
		}
		for f, v := range r.Fields {
			s := sums[k][f]
			if f == "setpoint" {
				s = [2]float64{v, 1} // readings come in time order: the last wins
			} else {
				s = [2]float64{s[0] + v, s[1] + 1}
			}
			sums[k][f] = s
		}
	}
	var rows []learn.Row
	for k, fields := range sums {
		vals := map[string]float64{}
		for f, s := range fields {
			name := f
			if f == "weather_stat" {
				name = model.FeatureWeather
			}
			vals[name] = s[0] / s[1]
		}
		rows = append(rows, learn.Row{Device: k.dev, Time: k.at, Values: vals})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Device != rows[j].Device {
			return rows[i].Device < rows[j].Device
		}
		return rows[i].Time.Before(rows[j].Time)
	})
	return rows
}

// Write writes the readings to InfluxDB as the sender would (tag location=Gwangju,
// weather_stat an integer), in batches.
func Write(ctx context.Context, url, token, org, bucket string, readings []Reading) error {
	c := influxdb2.NewClient(url, token)
	defer c.Close()
	w := c.WriteAPIBlocking(org, bucket)
	const batch = 5000
	for i := 0; i < len(readings); i += batch {
		var pts []*write.Point
		for _, r := range readings[i:min(i+batch, len(readings))] {
			p := write.NewPointWithMeasurement(r.Device).AddTag(reading.TagLocation, "Gwangju").SetTime(r.Time)
			for f, v := range r.Fields {
				if f == "weather_stat" {
					p.AddField(f, int64(v))
				} else {
					p.AddField(f, v)
				}
			}
			pts = append(pts, p)
		}
		if err := w.WritePoint(ctx, pts...); err != nil {
			return fmt.Errorf("write readings %d to %d: %w", i, i+len(pts), err)
		}
	}
	return nil
}

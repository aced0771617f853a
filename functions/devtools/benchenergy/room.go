package main

import (
	"context"
	"math"
	"time"

	"github.com/smartx-team/overcloud/device/sim"
)

// Sector is one sector of the simulated server room, with its own air conditioner.
type Sector struct {
	Name   string
	ITLoad float64 // mean server heat, W
}

// Sectors are the room: four sectors of different IT loads, each with the firmware
// model's 7 kW air conditioner (sim.DefaultParams).
var Sectors = []Sector{{"sector-1", 2000}, {"sector-2", 3000}, {"sector-3", 3800}, {"sector-4", 4500}}

// Limits are what the room must keep: the servers' inlet temperature at or below Inlet
// (ASHRAE's recommended upper bound, 27 C) and relative humidity within RHMin..RHMax.
type Limits struct {
	Inlet, RHMin, RHMax float64
}

// Row is one minute of a sector as its Pi reports it (to the sensor's 0.1 resolution)
// and the outside weather, as the sender stores it.
type Row struct {
	Time               time.Time
	Temperature, RH    float64 // C, %
	Setpoint           float64 // C, in force during the minute
	Outside, OutsideRH float64 // C, %
	CPU                float64 // %: the sector's IT load against its cooling capacity
	Power              float64 // W the air conditioner drew
}

// Policy sets one sector's set-point. Decide is called every Interval with the rows so
// far (oldest first, one a minute; at least one) and the set-point in force, and
// returns the set-point to apply.
type Policy interface {
	Decide(rows []Row, current float64) float64
}

// Score is what a policy did to one sector over the scored time.
type Score struct {
	KWh          float64 // electric energy of the air conditioner
	MinutesAbove int     // minutes with the true inlet temperature above Limits.Inlet
	MinutesRH    int     // minutes with the true humidity outside Limits.RHMin..RHMax
	Changes      int     // set-point changes
	Days         float64
}

// Run simulates sector for days from start under the climate, asking the policy every
// interval, starting at set-point initial. keep > 0 keeps only the newest keep rows
// for the policy (a year of rows is not needed to decide); 0 keeps them all and
// returns them (training data).
func Run(c *Climate, start time.Time, days int, sector Sector, limits Limits, p Policy, interval time.Duration, initial float64, keep int) (Score, []Row) {
	params := sim.DefaultParams()
	params.ITLoad = sector.ITLoad
	params.GlitchRate = 0
	fixed := func() time.Time { return start }
	room := sim.New(sim.Options{Params: &params, SetPoint: initial, Now: fixed, Seed: 1, Weather: c.At})
	var rows []Row
	var sc Score
	setpoint := initial
	steps := days * 24 * 60
	every := int(interval / time.Minute)
	for i := 0; i < steps; i++ {
		room.Advance(time.Minute)
		st := room.State()
		row := Row{
			Time: st.Time, Temperature: round1(st.Temperature), RH: round1(st.Humidity), Setpoint: setpoint,
			Outside: round1(st.Outside), OutsideRH: math.Round(st.OutsideRH), CPU: round1(100 * st.ITLoad / params.ACMax),
			Power: st.Power,
		}
		rows = append(rows, row)
		if keep > 0 && len(rows) > 2*keep {
			rows = append(rows[:0], rows[len(rows)-keep:]...)
		}
		sc.KWh += st.Power / 1000 / 60
		if st.Temperature > limits.Inlet {
			sc.MinutesAbove++
		}
		if st.Humidity < limits.RHMin || st.Humidity > limits.RHMax {
			sc.MinutesRH++
		}
		if (i+1)%every == 0 {
			next := p.Decide(rows, setpoint)
			if next != setpoint {
				sc.Changes++
				setpoint = next
				_ = room.SetPoint(context.Background(), next) // the simulated AC cannot fail
			}
		}
	}
	sc.Days = float64(days)
	if keep > 0 {
		rows = nil
	}
	return sc, rows
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

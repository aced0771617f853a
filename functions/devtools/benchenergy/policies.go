package main

import "math"

// Fixed holds one set-point, as the original's hard-coded Aircon_temp did (18 C).
type Fixed float64

// Decide implements Policy.
func (f Fixed) Decide([]Row, float64) float64 { return float64(f) }

// Thermostat is a simple rule an operator might set up: every interval, one degree
// down when the room is within Near of the limit, one up when it is more than Far
// below it, within Min..Max.
type Thermostat struct {
	Limit, Near, Far, Min, Max float64
}

// Decide implements Policy.
func (th Thermostat) Decide(rows []Row, current float64) float64 {
	t := rows[len(rows)-1].Temperature
	switch {
	case t > th.Limit-th.Near:
		return math.Max(th.Min, current-1)
	case t < th.Limit-th.Far:
		return math.Min(th.Max, current+1)
	}
	return current
}

package main

import (
	"math"
	"testing"
	"time"
)

// The simulated year has Gwangju's seasons, a daily swing warmest in the afternoon,
// humid summers and dry winters, and differs by seed but not by run.
func TestClimate(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClimate(start, 365, 1)
	monthMean := func(month time.Month) (temp, rh float64) {
		n := 0
		for t0 := time.Date(2025, month, 1, 0, 0, 0, 0, time.UTC); t0.Month() == month; t0 = t0.Add(time.Hour) {
			a, b := c.At(t0)
			temp, rh = temp+a, rh+b
			n++
		}
		return temp / float64(n), rh / float64(n)
	}
	jan, janRH := monthMean(time.January)
	aug, augRH := monthMean(time.August)
	if math.Abs(jan-0.6) > 3 || math.Abs(aug-26.9) > 3 {
		t.Errorf("January %.1f C, August %.1f C: want near Gwangju's 0.6 and 26.9", jan, aug)
	}
	if augRH < janRH+5 {
		t.Errorf("August %.0f %%, January %.0f %%: summers must be humid, winters dry", augRH, janRH)
	}
	day := time.Date(2025, 5, 10, 0, 0, 0, 0, time.UTC)
	at3, _ := c.At(day.Add(3 * time.Hour))
	at15, _ := c.At(day.Add(15 * time.Hour))
	if at15 < at3+5 {
		t.Errorf("03:00 %.1f C, 15:00 %.1f C: the afternoon must be warmer", at3, at15)
	}
	again, _ := NewClimate(start, 365, 1).At(day)
	other, _ := NewClimate(start, 365, 2).At(day)
	if first, _ := c.At(day); first != again || first == other {
		t.Errorf("seed 1 twice: %v, %v; seed 2: %v", first, again, other)
	}
	for h := 0; h < 365*24; h += 7 {
		if temp, rh := c.At(start.Add(time.Duration(h) * time.Hour)); math.IsNaN(temp) || rh < 15 || rh > 100 || temp < -20 || temp > 42 {
			t.Fatalf("hour %d: %.1f C, %.0f %%", h, temp, rh)
		}
	}
}

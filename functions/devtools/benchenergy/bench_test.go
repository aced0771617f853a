package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/policy"
)

var testStart = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

// A warmer fixed set-point costs less energy and, for the busiest sector on summer
// days, breaks the limit; the best fixed set-point in hindsight is the warmest one that
// does not.
func TestFixedPoliciesAndBestFixed(t *testing.T) {
	c := NewClimate(testStart, 4, 7)
	limits := Limits{Inlet: 27, RHMin: 8, RHMax: 80}
	busy := Sectors[3]
	cold, _ := Run(c, testStart, 4, busy, limits, Fixed(18), 5*time.Minute, 18, 64)
	warm, _ := Run(c, testStart, 4, busy, limits, Fixed(26), 5*time.Minute, 26, 64)
	if !(warm.KWh < cold.KWh*0.8) {
		t.Errorf("fixed 26 C: %.1f kWh, fixed 18 C: %.1f kWh; want the warmer one to cost at least 20 %% less", warm.KWh, cold.KWh)
	}
	if cold.MinutesAbove != 0 || warm.MinutesAbove == 0 {
		t.Errorf("minutes above the limit: %d at 18 C, %d at 26 C; want 0 and some", cold.MinutesAbove, warm.MinutesAbove)
	}
	o := Options{Days: 4, Limits: limits, Interval: 5 * time.Minute, Min: 16, Max: 30}
	best := BestFixed(c, testStart, o, busy)
	at, _ := Run(c, testStart, 4, busy, limits, Fixed(best), 5*time.Minute, best, 64)
	above, _ := Run(c, testStart, 4, busy, limits, Fixed(best+1), 5*time.Minute, best+1, 64)
	if at.MinutesAbove != 0 || above.MinutesAbove == 0 {
		t.Errorf("best fixed %v C: %d minutes above; %v C: %d; want 0 and some", best, at.MinutesAbove, best+1, above.MinutesAbove)
	}
}

// The thermostat moves one degree at a time within its bounds.
func TestThermostat(t *testing.T) {
	th := Thermostat{Limit: 27, Near: 1.5, Far: 3, Min: 16, Max: 30}
	for _, tt := range []struct{ temp, current, want float64 }{
		{26, 24, 23}, {23, 24, 25}, {24.5, 24, 24}, {26, 16, 16}, {20, 30, 30},
	} {
		if got := th.Decide([]Row{{Temperature: tt.temp}}, tt.current); got != tt.want {
			t.Errorf("room %v C at %v C: %v, want %v", tt.temp, tt.current, got, tt.want)
		}
	}
}

// The command prints the table with every policy and the parameters it ran with.
func TestBenchTable(t *testing.T) {
	var out, log bytes.Buffer
	if code := run(context.Background(), []string{"-days", "2"}, &out, &log); code != 0 {
		t.Fatalf("exit %d: %s", code, log.String())
	}
	for _, want := range []string{"| fixed 18 C (the original) |", "| fixed 24 C |", "| best fixed per sector, in hindsight |", "| rule thermostat |", "2 simulated days",
		"Ours: margin 0.5 C until learned (the 0.99-quantile of the latest 288 forecast errors, at least 0.2 C), dead band 0.3 C."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if code := run(context.Background(), []string{"-days", "1"}, &out, &log); code != 2 {
		t.Errorf("-days 1: exit %d, want 2", code)
	}
}

// Ours on a short stretch of winter (the model learns on the first days of the
// training year's weather, every policy is scored on another year's): within the
// limit every minute, at least 25 % less energy than the original's fixed 18 C, at
// most 24 changes a day per air conditioner.
func TestOursKeepsTheLimitAndSaves(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates days of four sectors per policy")
	}
	o := Options{Days: 8, TrainSeed: 11, ScoreSeed: 12, Limits: Limits{Inlet: 27, RHMin: 8, RHMax: 80},
		Interval: 5 * time.Minute, Min: 16, Max: 30}
	def := policy.DefaultLimits() // the controller's defaults, as make bench-energy runs them
	o.Margin, o.Deadband, o.MarginQuantile, o.MarginFloor, o.MarginSamples = def.Margin, def.Deadband, def.MarginQuantile, def.MarginFloor, def.MarginSamples
	var log bytes.Buffer
	results, err := Bench(context.Background(), o, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	byName := map[string]Score{}
	for _, r := range results {
		byName[r.Policy] = r.Score
	}
	ours, ok := byName["ours (learned model, controller rules)"]
	if !ok {
		t.Fatalf("no result for ours: %v", results)
	}
	base := byName["fixed 18 C (the original)"]
	if ours.MinutesAbove != 0 {
		t.Errorf("ours: %d minutes above the limit", ours.MinutesAbove)
	}
	if saved := 1 - ours.KWh/base.KWh; saved < 0.25 {
		t.Errorf("ours saved %.1f %% against fixed 18 C, want at least 25 %%", 100*saved)
	}
	if perDay := float64(ours.Changes) / ours.Days / float64(len(Sectors)); perDay > 24 {
		t.Errorf("ours: %.1f changes a day per air conditioner, want at most 24", perDay)
	}
	t.Logf("\n%s", Table(o, results))
}

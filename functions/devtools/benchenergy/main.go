// Command benchenergy measures, in simulation, what the Smart Energy controller saves:
// a year of a four-sector server room (the firmware's thermal model, device/sim, with
// its air-conditioner power model) under a Gwangju-like simulated year of weather,
// scored for each policy on the same weather: fixed 18 C (the original's hard-coded
// set-point), fixed 24 C, the best fixed set-point per sector in hindsight, a rule
// thermostat, and ours (the trainer's model of the room, learned on a different
// simulated year, with the controller's rules). `make bench-energy` runs it and prints
// the table for the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/policy"
	"github.com/smartx-team/overcloud/functions/model"
)

// Options are the benchmark's parameters, all printed with the table.
type Options struct {
	Days                 int
	TrainSeed, ScoreSeed uint64
	Limits               Limits
	Interval             time.Duration
	Min, Max             float64
	// Margin and Deadband are ours, the controller's settings of the same names (its
	// defaults unless given).
	Margin, Deadband float64
	// MarginQuantile, MarginFloor and MarginSamples are ours, the controller's learned
	// margin (policy.Limits).
	MarginQuantile, MarginFloor float64
	MarginSamples               int
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchenergy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.IntVar(&o.Days, "days", 365, "simulated days per year (train and score)")
	fs.Uint64Var(&o.TrainSeed, "train-seed", 2024, "seed of the weather year the model learns on")
	fs.Uint64Var(&o.ScoreSeed, "score-seed", 2025, "seed of the weather year every policy is scored on")
	fs.Float64Var(&o.Limits.Inlet, "limit", 27, "inlet temperature limit, C (ASHRAE recommended upper bound)")
	fs.Float64Var(&o.Limits.RHMin, "rh-min", 8, "lowest relative humidity, % (ASHRAE class A1 allowable: 8-80 %)")
	fs.Float64Var(&o.Limits.RHMax, "rh-max", 80, "highest relative humidity, %")
	fs.DurationVar(&o.Interval, "interval", 5*time.Minute, "how often a policy decides")
	fs.Float64Var(&o.Min, "min", 16, "lowest set-point, C")
	fs.Float64Var(&o.Max, "max", 30, "highest set-point, C")
	fs.Float64Var(&o.Margin, "margin", policy.DefaultLimits().Margin, "ours: how far below the limit the predicted inlet must stay, C (the controller's -margin)")
	def := policy.DefaultLimits()
	fs.Float64Var(&o.MarginQuantile, "margin-quantile", def.MarginQuantile, "ours: the quantile of the forecast errors the learned margin is (0: -margin always; the controller's -margin-quantile)")
	fs.Float64Var(&o.MarginFloor, "margin-floor", def.MarginFloor, "ours: the smallest learned margin, C (the controller's -margin-floor)")
	fs.IntVar(&o.MarginSamples, "margin-samples", def.MarginSamples, "ours: how many of the latest forecast errors the margin is learned from (the controller's -margin-samples)")
	fs.Float64Var(&o.Deadband, "deadband", policy.DefaultLimits().Deadband, "ours: the room a warmer set-point needs below limit-margin, C (the controller's -deadband)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: benchenergy [flags]\n\nSimulates a year of a four-sector server room per policy and prints cooling energy,\nsavings and limit violations as a Markdown table.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.Days < 2 || o.Interval < time.Minute || o.Interval%time.Minute != 0 || o.Min >= o.Max {
		fmt.Fprintln(stderr, "benchenergy: want -days >= 2, -interval a whole number of minutes, -min < -max")
		return 2
	}
	results, err := Bench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "benchenergy:", err)
		return 1
	}
	fmt.Fprint(stdout, Table(o, results))
	return 0
}

// Result is one policy's scores, summed over the sectors.
type Result struct {
	Policy  string
	Score   Score
	Sectors int
}

// Bench runs every policy, fixed 18 C first; progress goes to log.
func Bench(ctx context.Context, o Options, log io.Writer) ([]Result, error) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	score := NewClimate(start, o.Days, o.ScoreSeed)
	type policyFor func(s Sector) (Policy, float64, error) // the policy and its start set-point
	var learned *model.Model                               // trained once, for the first sector that needs it
	fixed := func(v float64) policyFor {
		return func(Sector) (Policy, float64, error) { return Fixed(v), v, nil }
	}
	policies := []struct {
		name string
		of   policyFor
	}{
		{"fixed 18 C (the original)", fixed(18)},
		{"fixed 24 C", fixed(24)},
		{"best fixed per sector, in hindsight", func(s Sector) (Policy, float64, error) {
			v := BestFixed(score, start, o, s)
			fmt.Fprintf(log, "benchenergy: best fixed set-point of %s in hindsight: %.0f C\n", s.Name, v)
			return Fixed(v), v, nil
		}},
		{"rule thermostat", func(Sector) (Policy, float64, error) {
			return Thermostat{Limit: o.Limits.Inlet, Near: 1.5, Far: 3, Min: o.Min, Max: o.Max}, 18, nil
		}},
		{"ours (learned model, controller rules)", func(Sector) (Policy, float64, error) {
			if learned == nil {
				m, err := Train(o, func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) })
				if err != nil {
					return nil, 0, fmt.Errorf("train: %w", err)
				}
				learned = m
			}
			l := policy.DefaultLimits()
			l.Min, l.Max, l.TempLimit, l.Margin, l.Deadband, l.RHMin, l.RHMax = o.Min, o.Max, o.Limits.Inlet, o.Margin, o.Deadband, o.Limits.RHMin, o.Limits.RHMax
			l.MarginQuantile, l.MarginFloor, l.MarginSamples = o.MarginQuantile, o.MarginFloor, o.MarginSamples
			p, err := NewLearned(learned, l, o.Interval)
			return p, 18, err
		}},
	}
	var results []Result
	for _, p := range policies {
		r := Result{Policy: p.name}
		for _, s := range Sectors {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			pol, initial, err := p.of(s)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", p.name, s.Name, err)
			}
			began := time.Now()
			sc, _ := Run(score, start, o.Days, s, o.Limits, pol, o.Interval, initial, 64)
			fmt.Fprintf(log, "benchenergy: %s, %s: %.0f kWh, %d min above the limit (%.1fs)\n", p.name, s.Name, sc.KWh, sc.MinutesAbove, time.Since(began).Seconds())
			if l, ok := pol.(*Learned); ok {
				fmt.Fprintf(log, "benchenergy: %s, %s: %s\n", p.name, s.Name, l.MarginNote())
			}
			r.Score.KWh += sc.KWh
			r.Score.MinutesAbove += sc.MinutesAbove
			r.Score.MinutesRH += sc.MinutesRH
			r.Score.Changes += sc.Changes
			r.Score.Days = sc.Days
			r.Sectors++
		}
		results = append(results, r)
	}
	return results, nil
}

// BestFixed is the highest whole-degree set-point that keeps the sector's inlet at or
// below the limit for the whole scored year (found by bisection: a higher set-point
// never makes the room cooler).
func BestFixed(c *Climate, start time.Time, o Options, s Sector) float64 {
	ok := func(v float64) bool {
		sc, _ := Run(c, start, o.Days, s, o.Limits, Fixed(v), o.Interval, v, 64)
		return sc.MinutesAbove == 0
	}
	lo, hi := o.Min, o.Max // invariant: lo is ok (or the lowest there is), hi+1 is not tried
	if !ok(lo) {
		return lo
	}
	for lo < hi {
		mid := lo + float64(int((hi-lo+1)/2))
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// Table is the Markdown table of results, with the parameters they ran with.
func Table(o Options, results []Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| policy | cooling kWh | saved vs fixed 18 C | minutes above %.0f C | minutes outside %.0f-%.0f %% RH | set-point changes per day per AC |\n", o.Limits.Inlet, o.Limits.RHMin, o.Limits.RHMax)
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	base := results[0].Score.KWh
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.0f | %.1f %% | %d | %d | %.1f |\n", r.Policy, r.Score.KWh, 100*(1-r.Score.KWh/base),
			r.Score.MinutesAbove, r.Score.MinutesRH, float64(r.Score.Changes)/r.Score.Days/float64(r.Sectors))
	}
	fmt.Fprintf(&b, "\n%d simulated days, scored on weather seed %d (trained on seed %d), %d sectors (%s W), decisions every %s, set-points %.0f-%.0f C.\n",
		o.Days, o.ScoreSeed, o.TrainSeed, len(Sectors), sectorLoads(), o.Interval, o.Min, o.Max)
	margin := fmt.Sprintf("margin %s C", num(o.Margin))
	if o.MarginQuantile > 0 {
		margin += fmt.Sprintf(" until learned (the %s-quantile of the latest %d forecast errors, at least %s C)", num(o.MarginQuantile), o.MarginSamples, num(o.MarginFloor))
	}
	fmt.Fprintf(&b, "Ours: %s, dead band %s C.\n", margin, num(o.Deadband))
	return b.String()
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func sectorLoads() string {
	var parts []string
	for _, s := range Sectors {
		parts = append(parts, fmt.Sprintf("%.0f", s.ITLoad))
	}
	return strings.Join(parts, ", ")
}

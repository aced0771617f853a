package learn_test

import (
	"fmt"
	"math"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
)

// A simulation feeds rows straight in: build the samples, split them by time, fit
// our features and compare with the last-value baseline on the held-out part.
func Example() {
	// One sector for a day, one row a minute: the room relaxes towards 2 C above its
	// set-point with a time constant of 4 minutes; the set-point changes every 50.
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var rows []learn.Row
	temp := 26.0
	for k := range 24 * 60 {
		sp := 18 + float64((k/50)%8)
		temp += (sp + 2 - temp) * (1 - math.Exp(-1.0/4))
		rows = append(rows, learn.Row{Device: "pi-1", Time: start.Add(time.Duration(k) * time.Minute), Values: map[string]float64{
			model.FeatureTemperature: temp, model.FeatureHumidity: 50 - (temp - 22), model.FeatureSetpoint: sp,
		}})
	}
	ds, err := learn.Build(rows, learn.BuildOptions{})
	if err != nil {
		panic(err)
	}
	train, held := learn.Split(ds.Samples, learn.SplitTime(ds.Stats.First, ds.Stats.Last, 0.2))
	features := ds.OursFeatures() // what the rows have: no weather, cpu or outside values
	tr, _ := ds.Project(train, features)
	ho, _ := ds.Project(held, features)
	m, err := learn.Fit(tr, features, learn.FitOptions{Horizon: ds.Horizon, Step: ds.Step})
	if err != nil {
		panic(err)
	}
	ours, _ := learn.Evaluate(m, ho)
	last := learn.LastValue(ho)
	fmt.Println("features:", m.Features)
	fmt.Println("skipped for set-point changes:", ds.Stats.SkippedSetpointChanges)
	fmt.Println("beats the last value:", ours.Of(model.OutputTemperature).MAE < last.Of(model.OutputTemperature).MAE)
	// Output:
	// features: [temperature humidity setpoint]
	// skipped for set-point changes: 252
	// beats the last value: true
}

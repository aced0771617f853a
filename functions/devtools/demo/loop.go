package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/localrun"
)

// commissioning is the step test's set-points: the original's 18 C first and last.
var commissioning = []float64{18, 22, 26, 20, 24, 18, 25, 21, 23, 19, 18}

// commissionRounds is how many step tests the demo runs at most: a trainer refuses a
// model no better than the last value, and one more step test usually mends that.
const commissionRounds = 3

// closeTheLoop commissions the Pis, trains, starts inference and the controller, and
// prints the controller's decisions until ctx ends.
func closeTheLoop(ctx context.Context, path *localrun.Path, c config, say func(string, ...any)) error {
	pis := make([]string, c.pis)
	for i := range pis {
		pis[i] = piName(i)
	}
	say("loop: a step test of the Pis' set-points first, so the trainer can learn their rooms (%s in all; the rooms run %g times real time)",
		time.Duration(len(commissioning))*c.hold, c.simSpeed)
	loop, err := path.CommissionedLoop(ctx, localrun.LoopOptions{Devices: pis, ControllerPort: c.controllerPort},
		commissioning, c.hold, commissionRounds, say)
	if err != nil {
		return err
	}
	say("loop: model trained (log %s); inference %s/v1/models/service; controller %s/api/v1/state, audit %s/api/v1/audit",
		path.LogPath("trainer"), loop.InferenceURL, loop.ControllerURL, loop.ControllerURL)
	last := map[string]string{}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, err := controllerState(ctx, loop.ControllerURL)
		if err != nil {
			if ctx.Err() == nil {
				say("controller: %v", err)
			}
			continue
		}
		for _, d := range st.Devices {
			line := fmt.Sprintf("%s: %s, set-point %s C: %s", d.Device, d.Mode, degrees(d.Current), d.LastDecision.Why)
			if line != last[d.Device] {
				say("controller %s  %s", time.Now().Format("15:04:05"), line)
				last[d.Device] = line
			}
		}
	}
}

type controllerStatus struct {
	Devices []struct {
		Device       string   `json:"device"`
		Mode         string   `json:"mode"`
		Current      *float64 `json:"current_setpoint"`
		LastDecision struct {
			Why string `json:"why"`
		} `json:"last_decision"`
	} `json:"devices"`
}

func controllerState(ctx context.Context, base string) (controllerStatus, error) {
	var st controllerStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/state", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("state: HTTP %d", resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func degrees(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("%g", *v)
}

package localrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// Packages of the loop's functions.
const (
	TrainerPackage    = "github.com/smartx-team/overcloud/functions/trainer"
	InferencePackage  = "github.com/smartx-team/overcloud/functions/inference"
	ControllerPackage = "github.com/smartx-team/overcloud/functions/controller"
)

// Commission is the step test that makes a room learnable: every set-point in turn,
// held for hold, sent to every device through the hub's core-command endpoint (as the
// controller sends them). say reports each step (nil: quiet).
func (p *Path) Commission(ctx context.Context, devices []string, setpoints []float64, hold time.Duration, say func(string, ...any)) error {
	for _, sp := range setpoints {
		if say != nil {
			say("commissioning: set-point %g C on %s for %s", sp, strings.Join(devices, ", "), hold)
		}
		for _, d := range devices {
			if err := p.SetSetpoint(ctx, d, sp); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(hold):
		}
	}
	return nil
}

// SetSetpoint sends a set-point to device through the hub's core-command endpoint.
func (p *Path) SetSetpoint(ctx context.Context, device string, sp float64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.HubURL+"/api/v3/device/name/"+device+"/setpoint",
		strings.NewReader(fmt.Sprintf(`{"setpoint": "%g"}`, sp)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("set-point of %s: %w", device, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("set-point of %s: HTTP %d", device, resp.StatusCode)
	}
	return nil
}

// LoopOptions set up StartLoop; zero values take the defaults named, which suit Pis
// whose thermal model runs 60 times real time (--sim-speed 60: a second is a minute).
type LoopOptions struct {
	// Devices the controller drives (required), and the trainer learns from.
	Devices []string
	// Since is how much history the trainer reads (default 5m).
	Since time.Duration
	// Step of the model (default 1s), Window and Horizon in steps (default 4 and 5),
	// MinSamples the fewest the trainer writes a model from (default 80). A few minutes
	// of history give a hundred or two samples: a short window and a firmer ridge
	// penalty (Lambda, default 0.01) keep the model from fitting their noise.
	Step                        time.Duration
	Window, Horizon, MinSamples int
	Lambda                      float64
	// Interval between the controller's decisions (default 3s), RaiseEvery its
	// raise interval (default 6s), Stale its stale-sensor time (default 30s).
	Interval, RaiseEvery, Stale time.Duration
	// Limit is the inlet temperature limit, C (default the controller's, 27).
	Limit float64
	// ControllerPort is the port of the controller's API (default a free one): given,
	// a dashboard started before the loop knows where the controller will be.
	ControllerPort int
}

func (o *LoopOptions) defaults() {
	durOr := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	intOr := func(n *int, def int) {
		if *n <= 0 {
			*n = def
		}
	}
	durOr(&o.Since, 5*time.Minute)
	durOr(&o.Step, time.Second)
	intOr(&o.Window, 4)
	intOr(&o.Horizon, 5)
	intOr(&o.MinSamples, 80)
	durOr(&o.Interval, 3*time.Second)
	durOr(&o.RaiseEvery, 6*time.Second)
	durOr(&o.Stale, 30*time.Second)
	if o.Limit == 0 {
		o.Limit = 27
	}
	if o.Lambda <= 0 {
		o.Lambda = 0.01
	}
}

// Loop is the Smart Energy loop on a Path: a model trained once, inference serving
// it, the controller driving the devices through the hub. Path.Close stops it.
type Loop struct {
	Inference, Controller *servers.Proc
	// ModelBase holds the model versions; TrainerOutput is what the trainer printed.
	ModelBase, TrainerOutput string
	// InferenceURL is the TF-Serving REST base, ControllerURL the controller's API
	// (GET /api/v1/state, /api/v1/audit), ControllerAdmin its /metrics.
	InferenceURL, ControllerURL, ControllerAdmin string
}

// ErrModelRefused is StartLoop's error when the trainer ran but refused its model (too
// few samples, or worse than the last-value baseline): more history usually helps.
var ErrModelRefused = errors.New("model refused")

// trainerRefused is the trainer's exit status for a refusal.
const trainerRefused = 3

// CommissionedLoop commissions the devices (the set-points in turn, each held hold),
// then starts the loop on the history since the commissioning began. When the trainer
// refuses its model, it commissions again, the set-points in reverse order, and trains
// on all of it, up to rounds times in all (default 1). o.Since is set here.
func (p *Path) CommissionedLoop(ctx context.Context, o LoopOptions, setpoints []float64, hold time.Duration, rounds int,
	say func(string, ...any)) (*Loop, error) {
	began := time.Now()
	for round := 1; ; round++ {
		if err := p.Commission(ctx, o.Devices, setpoints, hold, say); err != nil {
			return nil, err
		}
		// A few seconds more than the commissioning: the set-point it started from.
		o.Since = time.Since(began).Round(time.Second) + 5*time.Second
		if say != nil {
			say("loop: training on %s of history, then starting inference and the controller ...", o.Since)
		}
		l, err := p.StartLoop(ctx, o)
		if err == nil || !errors.Is(err, ErrModelRefused) || round >= rounds {
			return l, err
		}
		if say != nil {
			say("loop: %v; commissioning once more (round %d of %d)", err, round+1, rounds)
		}
		setpoints = slices.Clone(setpoints)
		slices.Reverse(setpoints)
	}
}

// StartLoop runs the trainer once on the history in InfluxDB, then starts inference
// on the model and the controller on the devices, each logging to logs/<name>.log.
func (p *Path) StartLoop(ctx context.Context, o LoopOptions) (*Loop, error) {
	o.defaults()
	if len(o.Devices) == 0 {
		return nil, errors.New("localrun: LoopOptions.Devices is required")
	}
	for _, name := range []string{"trainer", "inference", "controller"} {
		if p.logs[name] == nil {
			f, err := os.Create(p.LogPath(name))
			if err != nil {
				return nil, err
			}
			p.logs[name] = f
		}
	}
	l := &Loop{ModelBase: filepath.Join(p.dir, "models")}
	influx := func(prefix string) []string {
		return []string{
			prefix + "_INFLUX_URL=" + p.Influx.URL, prefix + "_INFLUX_TOKEN=" + p.Influx.Token,
			prefix + "_INFLUX_ORG=" + p.Influx.Org, prefix + "_INFLUX_BUCKET=" + p.Influx.Bucket,
		}
	}
	devices := strings.Join(o.Devices, ",")
	bin, err := servers.BuildGo(ctx, TrainerPackage)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), append(influx("TRAINER"),
		"TRAINER_DEVICES="+devices, "TRAINER_SINCE="+o.Since.String(), "TRAINER_STEP="+o.Step.String(),
		"TRAINER_WINDOW="+strconv.Itoa(o.Window), "TRAINER_HORIZON="+strconv.Itoa(o.Horizon),
		"TRAINER_MIN_SAMPLES="+strconv.Itoa(o.MinSamples), "TRAINER_LAMBDA="+strconv.FormatFloat(o.Lambda, 'g', -1, 64),
		"TRAINER_MODEL_BASE="+l.ModelBase)...)
	out, err := cmd.CombinedOutput()
	_, _ = p.logs["trainer"].Write(out)
	l.TrainerOutput = string(out)
	if err != nil {
		lines := strings.Split(strings.TrimSpace(l.TrainerOutput), "\n")
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == trainerRefused {
			err = ErrModelRefused
		}
		return nil, fmt.Errorf("trainer: %w: %s (log: %s)", err, lines[len(lines)-1], p.LogPath("trainer"))
	}

	port, _, err := p.function(ctx, "inference", InferencePackage, "INFERENCE", true,
		[]string{"INFERENCE_MODEL_BASE=" + l.ModelBase, "INFERENCE_POLL=1s"}, &l.Inference)
	if err != nil {
		return nil, err
	}
	l.InferenceURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	// The controller's request timeout must fit in its interval.
	timeout := min(10*time.Second, o.Interval*2/3)
	port, l.ControllerAdmin, err = p.functionOn(ctx, "controller", ControllerPackage, "CONTROLLER", true, o.ControllerPort, append(influx("CONTROLLER"),
		"CONTROLLER_INFERENCE_URL="+l.InferenceURL, "CONTROLLER_COMMAND_URL="+p.HubURL, "CONTROLLER_DEVICES="+devices,
		"CONTROLLER_MONGO_URI="+p.Mongo.URI, "CONTROLLER_INTERVAL="+o.Interval.String(),
		"CONTROLLER_REQUEST_TIMEOUT="+timeout.String(), "CONTROLLER_RAISE_EVERY="+o.RaiseEvery.String(),
		"CONTROLLER_STALE="+o.Stale.String(), "CONTROLLER_LIMIT="+strconv.FormatFloat(o.Limit, 'f', -1, 64)), &l.Controller)
	if err != nil {
		return nil, err
	}
	l.ControllerURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	return l, nil
}

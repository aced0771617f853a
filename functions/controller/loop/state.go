package loop

import (
	"fmt"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/audit"
	"github.com/smartx-team/overcloud/functions/controller/policy"
	"github.com/smartx-team/overcloud/functions/controller/tfserving"
)

// State is what GET /api/v1/state shows: the controller's settings, the model, and
// each device.
type State struct {
	Time     time.Time     `json:"time"`
	LastTick *time.Time    `json:"last_tick,omitempty"`
	Ready    bool          `json:"ready"`
	DryRun   bool          `json:"dry_run"`
	Limits   LimitsState   `json:"limits"`
	Model    *ModelState   `json:"model,omitempty"`
	Devices  []DeviceState `json:"devices"`
}

// LimitsState are the policy's settings.
type LimitsState struct {
	Min        float64 `json:"min"`
	Max        float64 `json:"max"`
	TempLimit  float64 `json:"temp_limit"`
	Margin     float64 `json:"margin"`
	Ceiling    float64 `json:"ceiling"`
	RHMin      float64 `json:"rh_min"`
	RHMax      float64 `json:"rh_max"`
	MaxStep    float64 `json:"max_step"`
	Hysteresis float64 `json:"hysteresis"`
	Deadband   float64 `json:"deadband"`
	RaiseEvery string  `json:"raise_every"`
	Stale      string  `json:"stale"`
	Interval   string  `json:"interval"`
}

// ModelState is the model as its metadata described it at the last tick.
type ModelState struct {
	Name        string     `json:"name,omitempty"`
	Version     int64      `json:"version,omitempty"`
	Features    []string   `json:"features,omitempty"`
	Steps       int        `json:"steps,omitempty"`
	StepSeconds float64    `json:"step_seconds,omitempty"`
	Horizon     int        `json:"horizon,omitempty"`
	Outputs     []string   `json:"outputs,omitempty"`
	TrainedAt   *time.Time `json:"trained_at,omitempty"`
	CheckedAt   time.Time  `json:"checked_at"`
	// Fault and Error say why the model cannot be used, if so.
	Fault policy.Fault `json:"fault,omitempty"`
	Error string       `json:"error,omitempty"`
}

// DeviceState is one device, as of its last decision or manual operation.
type DeviceState struct {
	Device   string `json:"device"`
	Location string `json:"location,omitempty"`
	// Mode is auto, override, stale or fallback; Automation says it in words.
	Mode       policy.Mode `json:"mode"`
	Automation string      `json:"automation"`
	// Current is the set-point in force, Recommended the model's last choice (C).
	Current     *float64 `json:"current_setpoint"`
	Recommended *float64 `json:"recommended_setpoint"`
	// LastPrediction is the model's answer for the recommended set-point.
	LastPrediction *PredictionState `json:"last_prediction,omitempty"`
	// Margin is what the last decision kept below the limit.
	Margin *MarginState `json:"margin,omitempty"`
	// LastReading is the time of the newest temperature or humidity reading.
	LastReading *time.Time `json:"last_reading"`
	StaleSensor bool       `json:"stale_sensor"`
	// Override is the manual set-point in force.
	Override *OverrideState `json:"override,omitempty"`
	// Fault is the fallback's reason (or, under an override, what would be one).
	Fault        policy.Fault   `json:"fallback_reason,omitempty"`
	LastDecision *DecisionState `json:"last_decision,omitempty"`
	// Errors of the last decision or operation (InfluxDB, inference, core-command,
	// MongoDB).
	Errors []string `json:"errors,omitempty"`
}

// PredictionState is the model's answer for one set-point.
type PredictionState struct {
	Setpoint    float64  `json:"setpoint"`
	Temperature float64  `json:"temperature"`
	Humidity    *float64 `json:"humidity,omitempty"`
}

// MarginState is the margin of a device's last decision: Celsius, learned from its
// forecast errors (Learned) or the one set; Scored and Dropped count its forecasts
// since the controller started.
type MarginState struct {
	Celsius float64 `json:"celsius"`
	Learned bool    `json:"learned"`
	Scored  int     `json:"forecasts_scored"`
	Dropped int     `json:"forecasts_dropped"`
}

// OverrideState is a manual set-point in force.
type OverrideState struct {
	Setpoint float64   `json:"setpoint"`
	User     string    `json:"user"`
	Reason   string    `json:"reason,omitempty"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
}

// DecisionState is the last decision.
type DecisionState struct {
	Time    time.Time      `json:"time"`
	Outcome policy.Outcome `json:"outcome"`
	Why     string         `json:"why"`
	// Target is the set-point a change went to.
	Target *float64 `json:"target,omitempty"`
}

// State returns the published state; it never waits for I/O.
func (c *Controller) State() State {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := State{
		Time: c.o.Now(), Ready: c.restored, DryRun: c.o.DryRun,
		Limits: LimitsState{
			Min: c.l.Min, Max: c.l.Max, TempLimit: c.l.TempLimit, Margin: c.l.Margin, Ceiling: c.l.Ceiling(),
			RHMin: c.l.RHMin, RHMax: c.l.RHMax, MaxStep: c.l.MaxStep, Hysteresis: c.l.Hysteresis,
			Deadband: c.l.Deadband, RaiseEvery: c.l.RaiseEvery.String(),
			Stale: c.l.Stale.String(), Interval: c.o.Interval.String(),
		},
	}
	if !c.lastTick.IsZero() {
		st.LastTick = ptr(c.lastTick)
	}
	if c.model != nil {
		m := *c.model
		st.Model = &m
	}
	for _, d := range c.order {
		st.Devices = append(st.Devices, c.views[d])
	}
	return st
}

// Device returns one device's published state.
func (c *Controller) Device(device string) (DeviceState, error) {
	if _, ok := c.sectors[device]; !ok {
		return DeviceState{}, fmt.Errorf("%w %q", ErrUnknownDevice, device)
	}
	return c.view(device), nil
}

func (c *Controller) view(device string) DeviceState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.views[device]
}

// publish stores v as the device's state, with Automation filled in.
func (c *Controller) publish(v DeviceState) {
	switch v.Mode {
	case policy.ModeOverride:
		if v.Override != nil {
			v.Automation = fmt.Sprintf("override until %s by %s", v.Override.Until.UTC().Format(time.RFC3339), v.Override.User)
		}
	case policy.ModeStale:
		v.Automation = "stale sensor"
	case policy.ModeFallback:
		v.Automation = fmt.Sprintf("fallback (%s)", v.Fault)
	default:
		v.Automation = "auto"
	}
	c.mu.Lock()
	c.views[v.Device] = v
	c.mu.Unlock()
}

func (c *Controller) setModel(sig tfserving.Signature, err error, fault policy.Fault, now time.Time) {
	m := &ModelState{CheckedAt: now, Fault: fault}
	if err != nil {
		m.Error = err.Error()
	} else {
		m.Name, m.Version, m.Features, m.Steps = sig.Name, sig.Version, sig.Features, sig.Steps
		m.StepSeconds, m.Horizon, m.Outputs = sig.Step.Seconds(), sig.Horizon, sig.Outputs
		if !sig.TrainedAt.IsZero() {
			m.TrainedAt = ptr(sig.TrainedAt)
		}
		if fault != "" {
			m.Error = fmt.Sprintf("model trained at %s is older than %s", sig.TrainedAt.UTC().Format(time.RFC3339), c.l.ModelMaxAge)
		}
	}
	c.mu.Lock()
	c.model = m
	c.mu.Unlock()
}

func overrideState(o *policy.Override) *OverrideState {
	if o == nil {
		return nil
	}
	return &OverrideState{Setpoint: o.Setpoint, User: o.User, Reason: o.Reason, Since: o.Since, Until: o.Until}
}

func predictionState(p policy.Prediction) *PredictionState {
	ps := &PredictionState{Setpoint: p.Setpoint, Temperature: p.Temperature}
	if p.HasHumidity {
		ps.Humidity = ptr(p.Humidity)
	}
	return ps
}

func auditPrediction(p policy.Prediction) *audit.Prediction {
	ap := &audit.Prediction{Setpoint: p.Setpoint, Temperature: p.Temperature}
	if p.HasHumidity {
		ap.Humidity = ptr(p.Humidity)
	}
	return ap
}

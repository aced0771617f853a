package wiring

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
)

// Config is every setting of the trainer. Each has an environment variable (in
// brackets) and a flag; Defaults gives the defaults, ParseFlags reads flags and
// environment, Validate checks and names the bad setting.
type Config struct {
	InfluxURL       string        // [TRAINER_INFLUX_URL] (default "http://localhost:8086")
	InfluxToken     string        // [TRAINER_INFLUX_TOKEN] secret
	InfluxTokenFile string        // [TRAINER_INFLUX_TOKEN_FILE] secret file; wins over InfluxToken
	InfluxOrg       string        // [TRAINER_INFLUX_ORG] (default "smartx"; InfluxDB 1.8 ignores it)
	InfluxBucket    string        // [TRAINER_INFLUX_BUCKET] (default "Sensordata/autogen", the sender's)
	QueryTimeout    time.Duration // [TRAINER_QUERY_TIMEOUT] bound of the InfluxDB query (default 5m)
	Devices         []string      // [TRAINER_DEVICES] comma-separated; none: every device with a temperature
	Since           string        // [TRAINER_SINCE] RFC 3339, or a duration before Until (default "168h", 7 days)
	Until           string        // [TRAINER_UNTIL] RFC 3339, "now", or a duration before now (default "now")
	Step            time.Duration // [TRAINER_STEP] resampling step (default 1m)
	Window          int           // [TRAINER_WINDOW] steps in a window (default 6, the original's)
	Horizon         int           // [TRAINER_HORIZON] steps from the window's last to the target (default 10)
	FillFor         time.Duration // [TRAINER_FILL_FOR] how long a value is carried forward (default 1h)
	Lambda          float64       // [TRAINER_LAMBDA] ridge penalty on standardized inputs (default learn.DefaultLambda)
	HoldOut         float64       // [TRAINER_HOLD_OUT] fraction of the time range held out, at its end (default 0.2)
	MinSamples      int           // [TRAINER_MIN_SAMPLES] fewest samples to write a model from (default 200)
	Force           bool          // [TRAINER_FORCE] write even when the checks refuse (default false)
	ModelBase       string        // [TRAINER_MODEL_BASE] TF-Serving base directory (default "/models")
	ModelName       string        // [TRAINER_MODEL_NAME] (default "service", the original's model name)
	CSV             string        // [TRAINER_CSV] file to export the training set to (default none)
	LogLevel        string        // [TRAINER_LOG_LEVEL] debug, info, warn or error (default "info")
}

// Defaults returns the default settings.
func Defaults() Config {
	return Config{
		InfluxURL:    "http://localhost:8086",
		InfluxOrg:    "smartx",
		InfluxBucket: "Sensordata/autogen",
		QueryTimeout: 5 * time.Minute,
		Since:        "168h",
		Until:        "now",
		Step:         learn.DefaultStep,
		Window:       learn.DefaultSteps,
		Horizon:      learn.DefaultHorizon,
		FillFor:      learn.DefaultFillFor,
		Lambda:       learn.DefaultLambda,
		HoldOut:      0.2,
		MinSamples:   200,
		ModelBase:    "/models",
		ModelName:    learn.DefaultModelName,
		LogLevel:     "info",
	}
}

const usage = `trainer learns the room: it reads the sensors' history from InfluxDB, resampled
to one row per step and device, makes windows of the last steps and the temperature
and humidity some steps later, fits a ridge regression of our features and of the
original's, and compares both with the naive "no change" baseline on the last part of
the time range, held out. It writes our model as the next version under
<model-base>/<model-name>/ (TF-Serving's layout), with metrics.json and window.json
beside it, unless there are too few samples or it does not beat the baseline on
temperature (exit 3; --force writes anyway). One run, then exit: a Kubernetes CronJob.
Exit status 0 done or --help, 2 bad settings, 1 failure, 3 refusal.

Times are RFC 3339 (2026-12-01T09:00:00Z) or a duration (168h): --since before
--until, --until before now.`

// ParseFlags reads the settings from args and the TRAINER_* environment over the
// defaults. It returns flag.ErrHelp after writing the usage to out for -h/--help, and
// an error naming the setting for a malformed value. It does not Validate.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	c := Defaults()
	fs := service.NewFlags("trainer", usage)
	fs.SetOutput(out)
	var after []func()
	str := func(p *string, name, env, usage string) {
		v := fs.String(name, env, *p, usage)
		after = append(after, func() { *p = *v })
	}
	dur := func(p *time.Duration, name, env, usage string) {
		v := fs.Duration(name, env, *p, usage)
		after = append(after, func() { *p = *v })
	}
	integer := func(p *int, name, env, usage string) {
		v := fs.Int(name, env, *p, usage)
		after = append(after, func() { *p = *v })
	}
	str(&c.InfluxURL, "influx-url", "TRAINER_INFLUX_URL", "InfluxDB base URL")
	token := fs.Secret("influx-token", "TRAINER_INFLUX_TOKEN", "", "InfluxDB token (user:password on InfluxDB 1.8); prefer the _FILE variant")
	str(&c.InfluxOrg, "influx-org", "TRAINER_INFLUX_ORG", "InfluxDB organization (ignored by InfluxDB 1.8)")
	str(&c.InfluxBucket, "influx-bucket", "TRAINER_INFLUX_BUCKET", "InfluxDB bucket (database/retention-policy on InfluxDB 1.8)")
	dur(&c.QueryTimeout, "query-timeout", "TRAINER_QUERY_TIMEOUT", "longest the InfluxDB query may take")
	devices := fs.String("devices", "TRAINER_DEVICES", "", "comma-separated devices (measurements) to learn from; empty: every one with a temperature")
	str(&c.Since, "since", "TRAINER_SINCE", "start of the history: RFC 3339, or a duration before --until")
	str(&c.Until, "until", "TRAINER_UNTIL", `end of the history: RFC 3339, "now", or a duration before now`)
	dur(&c.Step, "step", "TRAINER_STEP", "resampling step: each field's mean per step (the set-point's last value)")
	integer(&c.Window, "window", "TRAINER_WINDOW", "steps in an input window")
	integer(&c.Horizon, "horizon", "TRAINER_HORIZON", "steps from the window's last step to the predicted one")
	dur(&c.FillFor, "fill-for", "TRAINER_FILL_FOR", "longest a set-point, weather or cpu value is carried forward over steps without one")
	lambda := fs.String("lambda", "TRAINER_LAMBDA", strconv.FormatFloat(c.Lambda, 'g', -1, 64), "ridge penalty on standardized inputs, per sample")
	holdOut := fs.String("hold-out", "TRAINER_HOLD_OUT", strconv.FormatFloat(c.HoldOut, 'g', -1, 64), "fraction of the time range, at its end, held out for evaluation")
	integer(&c.MinSamples, "min-samples", "TRAINER_MIN_SAMPLES", "fewest samples a model is written from")
	force := fs.Bool("force", "TRAINER_FORCE", c.Force, "write the model even with too few samples or when the last-value baseline beats it")
	str(&c.ModelBase, "model-base", "TRAINER_MODEL_BASE", "base directory of the models (TF-Serving layout <base>/<name>/<version>/)")
	str(&c.ModelName, "model-name", "TRAINER_MODEL_NAME", "model name")
	str(&c.CSV, "csv", "TRAINER_CSV", "also export the training set (every sample, our features) to this CSV file")
	str(&c.LogLevel, "log-level", "TRAINER_LOG_LEVEL", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	for _, f := range after {
		f()
	}
	c.InfluxToken, c.InfluxTokenFile = token.Inline(), token.File()
	c.Force = *force
	var err error
	if c.Devices, err = ParseDevices(*devices); err != nil {
		return Config{}, fmt.Errorf("TRAINER_DEVICES=%q: %w", *devices, err)
	}
	if c.Lambda, err = parseFloat("TRAINER_LAMBDA", *lambda); err != nil {
		return Config{}, err
	}
	if c.HoldOut, err = parseFloat("TRAINER_HOLD_OUT", *holdOut); err != nil {
		return Config{}, err
	}
	return c, nil
}

func parseFloat(key, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a number", key, v)
	}
	return f, nil
}

// ParseDevices splits a comma-separated list of device names, dropping spaces around
// them, empty items and repeats. A name must be one the reading contract allows
// (UTF-8, no control characters, at most reading.MaxNameLen bytes).
func ParseDevices(s string) ([]string, error) {
	var out []string
	for _, d := range service.SplitList(s) {
		switch {
		case len(d) > reading.MaxNameLen:
			return nil, fmt.Errorf("device %.20q... is longer than %d bytes", d, reading.MaxNameLen)
		case !utf8.ValidString(d):
			return nil, fmt.Errorf("device %q is not UTF-8", d)
		case strings.ContainsFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return nil, fmt.Errorf("device %q has a control character", d)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// ParseTime reads a time setting: "now", an RFC 3339 time, or a non-negative duration
// before ref.
func ParseTime(s string, ref time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return ref, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, errors.New(`want RFC 3339, "now" or a duration such as 168h`)
	}
	return ref.Add(-d), nil
}

// Range is the time range Since and Until name, with now the current time.
func (c Config) Range(now time.Time) (since, until time.Time, err error) {
	if until, err = ParseTime(c.Until, now.UTC()); err != nil {
		return since, until, fmt.Errorf("%w: TRAINER_UNTIL=%q: %w", ErrConfig, c.Until, err)
	}
	if since, err = ParseTime(c.Since, until); err != nil {
		return since, until, fmt.Errorf("%w: TRAINER_SINCE=%q: %w", ErrConfig, c.Since, err)
	}
	if !since.Before(until) {
		return since, until, fmt.Errorf("%w: TRAINER_SINCE=%q: %s is not before TRAINER_UNTIL %s",
			ErrConfig, c.Since, since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return since, until, nil
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("bad setting")

// Validate checks every setting and returns the first bad one, named by its
// environment variable. Secret values are never part of the message.
func (c Config) Validate() error {
	bad := func(key string, v any, why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrConfig, key, fmt.Sprint(v), why)
	}
	if u, err := url.Parse(c.InfluxURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("TRAINER_INFLUX_URL", service.RedactURL(c.InfluxURL), "want an http(s)://host[:port] URL")
	}
	if strings.TrimSpace(c.InfluxBucket) == "" {
		return bad("TRAINER_INFLUX_BUCKET", c.InfluxBucket, "must not be empty")
	}
	if c.QueryTimeout < time.Second || c.QueryTimeout > 24*time.Hour {
		return bad("TRAINER_QUERY_TIMEOUT", c.QueryTimeout, "want 1s to 24h")
	}
	if _, _, err := c.Range(time.Now()); err != nil {
		return err
	}
	if c.Step < time.Second || c.Step > 24*time.Hour {
		return bad("TRAINER_STEP", c.Step, "want 1s to 24h")
	}
	if c.Window < 1 || c.Window > 1000 {
		return bad("TRAINER_WINDOW", c.Window, "want 1 to 1000 steps")
	}
	if c.Horizon < 1 || c.Horizon > 10000 {
		return bad("TRAINER_HORIZON", c.Horizon, "want 1 to 10000 steps")
	}
	if c.FillFor < c.Step || c.FillFor > 7*24*time.Hour {
		return bad("TRAINER_FILL_FOR", c.FillFor, "want one step to 168h")
	}
	if !(c.Lambda > 0) || math.IsInf(c.Lambda, 0) {
		return bad("TRAINER_LAMBDA", c.Lambda, "want a positive number")
	}
	if !(c.HoldOut > 0 && c.HoldOut < 1) {
		return bad("TRAINER_HOLD_OUT", c.HoldOut, "want a fraction between 0 and 1")
	}
	if c.MinSamples < 1 {
		return bad("TRAINER_MIN_SAMPLES", c.MinSamples, "want at least 1")
	}
	if strings.TrimSpace(c.ModelBase) == "" {
		return bad("TRAINER_MODEL_BASE", c.ModelBase, "must not be empty")
	}
	if c.ModelName == "" || c.ModelName == "." || c.ModelName == ".." || strings.ContainsAny(c.ModelName, "/\\ \t\n") {
		return bad("TRAINER_MODEL_NAME", c.ModelName, "want a name without slashes or spaces")
	}
	if _, err := service.ParseLogLevel(c.LogLevel); err != nil {
		return bad("TRAINER_LOG_LEVEL", c.LogLevel, "want debug, info, warn or error")
	}
	return nil
}

// LogValue is what the start line shows: every setting but the token, and passwords
// in URLs hidden.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("influx_url", service.RedactURL(c.InfluxURL)),
		slog.Bool("influx_token_set", c.InfluxToken != "" || c.InfluxTokenFile != ""),
		slog.String("influx_bucket", c.InfluxBucket),
		slog.Any("devices", c.Devices),
		slog.String("since", c.Since),
		slog.String("until", c.Until),
		slog.String("step", c.Step.String()),
		slog.Int("window", c.Window),
		slog.Int("horizon", c.Horizon),
		slog.String("fill_for", c.FillFor.String()),
		slog.Float64("lambda", c.Lambda),
		slog.Float64("hold_out", c.HoldOut),
		slog.Int("min_samples", c.MinSamples),
		slog.Bool("force", c.Force),
		slog.String("model_base", c.ModelBase),
		slog.String("model_name", c.ModelName),
		slog.String("csv", c.CSV),
	)
}

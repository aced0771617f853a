package wiring

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/coreclient"
	"github.com/smartx-team/overcloud/functions/controller/policy"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

// Config is every setting of the controller. Each has an environment variable (in
// brackets) and a flag of the same name in lower case without the prefix; Defaults
// gives the defaults, ParseFlags reads flags and environment, Validate names the bad
// setting.
type Config struct {
	InfluxURL       string // [CONTROLLER_INFLUX_URL] (default "http://localhost:8086")
	InfluxToken     string // [CONTROLLER_INFLUX_TOKEN] secret
	InfluxTokenFile string // [CONTROLLER_INFLUX_TOKEN_FILE] secret file; wins over InfluxToken
	InfluxOrg       string // [CONTROLLER_INFLUX_ORG] (default "smartx"; InfluxDB 1.8 ignores it)
	InfluxBucket    string // [CONTROLLER_INFLUX_BUCKET] (default "Sensordata/autogen", the sender's)

	InferenceURL string // [CONTROLLER_INFERENCE_URL] TF-Serving REST base URL (default "http://localhost:8501")
	ModelName    string // [CONTROLLER_MODEL_NAME] (default "service")

	CommandURL       string // [CONTROLLER_COMMAND_URL] core-command's (or the hub's) base URL (default "http://localhost:59882")
	CommandToken     string // [CONTROLLER_COMMAND_TOKEN] secret, optional bearer token for core-command
	CommandTokenFile string // [CONTROLLER_COMMAND_TOKEN_FILE]

	Devices  string        // [CONTROLLER_DEVICES] comma-separated EdgeX device names, one per air conditioner (required)
	Interval time.Duration // [CONTROLLER_INTERVAL] (default 1m)

	Limit  float64 // [CONTROLLER_LIMIT] highest inlet temperature, C (default 27)
	Margin float64 // [CONTROLLER_MARGIN] kept below the limit, C, until one is learned (default 0.5)
	// MarginQuantile [CONTROLLER_MARGIN_QUANTILE], MarginFloor [CONTROLLER_MARGIN_FLOOR]
	// and MarginSamples [CONTROLLER_MARGIN_SAMPLES]: the margin learned from each
	// sector's forecast errors (policy.Limits; defaults 0.99, 0.2 C and 288; a quantile
	// of 0 keeps Margin always).
	MarginQuantile, MarginFloor float64
	MarginSamples               int
	Deadband                    float64       // [CONTROLLER_DEADBAND] a warmer set-point needs this much room below limit-margin, C (default 0.3)
	RaiseEvery                  time.Duration // [CONTROLLER_RAISE_EVERY] no warmer set-point sooner after a change (default 30m)
	RHMin                       float64       // [CONTROLLER_RH_MIN] % (default 20)
	RHMax                       float64       // [CONTROLLER_RH_MAX] % (default 80)
	Min                         float64       // [CONTROLLER_MIN] lowest set-point, C (default 16)
	Max                         float64       // [CONTROLLER_MAX] highest set-point, C (default 30)
	MaxStep                     float64       // [CONTROLLER_MAX_STEP] C per interval (default 1)
	Hysteresis                  float64       // [CONTROLLER_HYSTERESIS] C (default 1)
	Stale                       time.Duration // [CONTROLLER_STALE] (default 5m)
	ModelMaxAge                 time.Duration // [CONTROLLER_MODEL_MAX_AGE] 0: not checked (default 0)

	OverrideDefault time.Duration // [CONTROLLER_OVERRIDE_DEFAULT] (default 1h)
	OverrideMax     time.Duration // [CONTROLLER_OVERRIDE_MAX] (default 24h)

	MongoURI       string // [CONTROLLER_MONGO_URI] secret (default service.DefaultMongoURI, "mongodb://127.0.0.1:27017")
	MongoURIFile   string // [CONTROLLER_MONGO_URI_FILE]
	MongoDatabase  string // [CONTROLLER_MONGO_DATABASE] (default "smartx_controller")
	MongoAudit     string // [CONTROLLER_MONGO_AUDIT_COLLECTION] (default "audit")
	MongoOverrides string // [CONTROLLER_MONGO_OVERRIDES_COLLECTION] (default "overrides")
	APIToken       string // [CONTROLLER_API_TOKEN] secret; if set, POST and DELETE need it as a bearer token
	APITokenFile   string // [CONTROLLER_API_TOKEN_FILE]
	Listen         string // [CONTROLLER_LISTEN] the HTTP API (default ":8080")
	AdminListen    string // [CONTROLLER_ADMIN_LISTEN] /healthz, /readyz, /metrics (default ":9106")
	// RequestTimeout bounds each request to InfluxDB, the model server and
	// core-command [CONTROLLER_REQUEST_TIMEOUT] (default 10s).
	RequestTimeout time.Duration
	LogLevel       string // [CONTROLLER_LOG_LEVEL] debug, info, warn or error (default "info")
	DryRun         bool   // [CONTROLLER_DRY_RUN] recommend, store and audit, apply nothing (default false)
}

// Defaults returns the default settings.
func Defaults() Config {
	l := policy.DefaultLimits()
	return Config{
		InfluxURL: "http://localhost:8086", InfluxOrg: "smartx", InfluxBucket: "Sensordata/autogen",
		InferenceURL: "http://localhost:8501", ModelName: "service",
		CommandURL: "http://localhost:59882",
		Interval:   time.Minute,
		Limit:      l.TempLimit, Margin: l.Margin, MarginQuantile: l.MarginQuantile, MarginFloor: l.MarginFloor, MarginSamples: l.MarginSamples, Deadband: l.Deadband, RaiseEvery: l.RaiseEvery, RHMin: l.RHMin, RHMax: l.RHMax,
		Min: l.Min, Max: l.Max, MaxStep: l.MaxStep, Hysteresis: l.Hysteresis, Stale: l.Stale,
		OverrideDefault: time.Hour, OverrideMax: 24 * time.Hour,
		MongoURI: service.DefaultMongoURI, MongoDatabase: "smartx_controller",
		MongoAudit: "audit", MongoOverrides: "overrides",
		Listen: ":8080", AdminListen: ":9106",
		RequestTimeout: 10 * time.Second,
		LogLevel:       "info",
	}
}

const usage = `controller closes the loop on the server room's air conditioners. Every interval, for
each device (one Pi and one air conditioner per sector), it reads the sector's window from
InfluxDB, asks the model (TF-Serving REST API) about every whole-degree set-point, picks the
highest that keeps the predicted inlet temperature at or below limit - margin and the
humidity within range, stores it as recommend_temperature and applies a change through
EdgeX core-command (PUT /api/v3/device/name/{device}/setpoint), at most max-step per
interval. Operators set and cancel manual overrides through its HTTP API; every change is
audited in MongoDB. Admin endpoints: /healthz, /readyz, /metrics.`

// ParseFlags reads the settings from args and the CONTROLLER_* environment over the
// defaults. It returns flag.ErrHelp after writing the usage to out for -h/--help, and
// an error naming the setting for a malformed value. It does not Validate.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	c := Defaults()
	fs := service.NewFlags("controller", usage)
	fs.SetOutput(out)
	var after []func() error
	str := func(p *string, name, usage string) {
		v := fs.String(name, envOf(name), *p, usage)
		after = append(after, func() error { *p = *v; return nil })
	}
	dur := func(p *time.Duration, name, usage string) {
		v := fs.Duration(name, envOf(name), *p, usage)
		after = append(after, func() error { *p = *v; return nil })
	}
	num := func(p *float64, name, usage string) {
		v := fs.String(name, envOf(name), strconv.FormatFloat(*p, 'f', -1, 64), usage)
		after = append(after, func() error {
			f, err := strconv.ParseFloat(strings.TrimSpace(*v), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%w: %s=%q: not a number", ErrConfig, envOf(name), *v)
			}
			*p = f
			return nil
		})
	}
	whole := func(p *int, name, usage string) {
		v := fs.String(name, envOf(name), strconv.Itoa(*p), usage)
		after = append(after, func() error {
			n, err := strconv.Atoi(strings.TrimSpace(*v))
			if err != nil {
				return fmt.Errorf("%w: %s=%q: not a whole number", ErrConfig, envOf(name), *v)
			}
			*p = n
			return nil
		})
	}
	str(&c.InfluxURL, "influx-url", "InfluxDB base URL")
	influxToken := fs.Secret("influx-token", envOf("influx-token"), "", "InfluxDB token (user:password on InfluxDB 1.8); prefer the _FILE variant")
	str(&c.InfluxOrg, "influx-org", "InfluxDB organization (ignored by InfluxDB 1.8)")
	str(&c.InfluxBucket, "influx-bucket", "InfluxDB bucket of the readings (database/retention-policy on InfluxDB 1.8)")
	str(&c.InferenceURL, "inference-url", "model server's base URL (TF-Serving REST API)")
	str(&c.ModelName, "model-name", "model to ask")
	str(&c.CommandURL, "command-url", "EdgeX core-command's base URL (the hub's in standalone mode)")
	commandToken := fs.Secret("command-token", envOf("command-token"), "", "bearer token for core-command, if it needs one; prefer the _FILE variant")
	str(&c.Devices, "devices", "comma-separated EdgeX device names, one per air conditioner (required)")
	dur(&c.Interval, "interval", "time between decisions")
	num(&c.Limit, "limit", "highest inlet temperature allowed, C (ASHRAE's recommended upper bound)")
	num(&c.Margin, "margin", "kept below the limit, C, until a margin is learned (and always with -margin-quantile 0)")
	num(&c.MarginQuantile, "margin-quantile", "the learned margin is this quantile of how much warmer the inlet came out than forecast, per sector (0: off)")
	num(&c.MarginFloor, "margin-floor", "the learned margin is never smaller, C")
	whole(&c.MarginSamples, "margin-samples", "forecasts scored before the margin is learned, and how many of the latest it is learned from (in memory: a restart starts again)")
	num(&c.Deadband, "deadband", "a warmer set-point is applied only when predicted this far below limit-margin, C")
	dur(&c.RaiseEvery, "raise-every", "no warmer set-point within this time of the last automatic change (cooler ones are never held back)")
	num(&c.RHMin, "rh-min", "lowest relative humidity allowed, %")
	num(&c.RHMax, "rh-max", "highest relative humidity allowed, %")
	num(&c.Min, "min", "lowest set-point ever applied, C (keep within each Pi's setpoint-min)")
	num(&c.Max, "max", "highest set-point ever applied, C (keep within each Pi's setpoint-max)")
	num(&c.MaxStep, "max-step", "largest automatic change per interval, C")
	num(&c.Hysteresis, "hysteresis", "a recommendation closer than this to the set-point in force is not applied, C (cooling for safety always is)")
	dur(&c.Stale, "stale", "a sector without a reading for this long is left alone")
	dur(&c.ModelMaxAge, "model-max-age", "a model trained longer ago is stale and not used (0: not checked; needs trained_at in the metadata)")
	dur(&c.OverrideDefault, "override-default", "how long a manual set-point holds when no duration is given")
	dur(&c.OverrideMax, "override-max", "longest manual override")
	mongoURI := fs.Secret("mongo-uri", envOf("mongo-uri"), c.MongoURI, "MongoDB connection string of the audit trail; may hold a password (prefer the _FILE variant)")
	str(&c.MongoDatabase, "mongo-database", "MongoDB database of the audit trail and the overrides")
	str(&c.MongoAudit, "mongo-audit-collection", "collection of the audit trail")
	str(&c.MongoOverrides, "mongo-overrides-collection", "collection of the overrides in force")
	apiToken := fs.Secret("api-token", envOf("api-token"), "", "if set, POST and DELETE of the API need it as a bearer token; prefer the _FILE variant")
	str(&c.Listen, "listen", "address of the HTTP API")
	str(&c.AdminListen, "admin-listen", "address of /healthz, /readyz and /metrics")
	dur(&c.RequestTimeout, "request-timeout", "bound of each request to InfluxDB, the model server and core-command")
	str(&c.LogLevel, "log-level", "debug, info, warn or error")
	dry := fs.Bool("dry-run", envOf("dry-run"), c.DryRun, "recommend, store and audit, but apply nothing")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	for _, f := range after {
		if err := f(); err != nil {
			return Config{}, err
		}
	}
	// The files are read in New, so that Validate can say which is missing first.
	c.InfluxToken, c.InfluxTokenFile = influxToken.Inline(), influxToken.File()
	c.CommandToken, c.CommandTokenFile = commandToken.Inline(), commandToken.File()
	c.MongoURI, c.MongoURIFile = mongoURI.Inline(), mongoURI.File()
	c.APIToken, c.APITokenFile = apiToken.Inline(), apiToken.File()
	c.DryRun = *dry
	return c, nil
}

// envOf is the environment variable of a flag: CONTROLLER_ and the name in upper
// case with underscores.
func envOf(flag string) string {
	return "CONTROLLER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ErrConfig is wrapped by every error that is the settings' fault.
var ErrConfig = errors.New("bad setting")

// Validate checks every setting and returns the first bad one, named by its
// environment variable. Secret values are never part of the message.
func (c Config) Validate() error {
	bad := func(key string, v any, why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrConfig, key, fmt.Sprint(v), why)
	}
	for _, u := range []struct{ key, v string }{
		{"CONTROLLER_INFLUX_URL", c.InfluxURL}, {"CONTROLLER_INFERENCE_URL", c.InferenceURL}, {"CONTROLLER_COMMAND_URL", c.CommandURL},
	} {
		if err := checkURL(u.v); err != nil {
			return bad(u.key, service.RedactURL(u.v), err.Error())
		}
	}
	if strings.TrimSpace(c.InfluxBucket) == "" {
		return bad("CONTROLLER_INFLUX_BUCKET", c.InfluxBucket, "must not be empty")
	}
	if c.ModelName == "" || strings.ContainsAny(c.ModelName, "/:?#% ") {
		return bad("CONTROLLER_MODEL_NAME", c.ModelName, "want a model name without / : ? # % or spaces")
	}
	devs := c.DeviceList()
	if len(devs) == 0 {
		return bad("CONTROLLER_DEVICES", c.Devices, "want at least one EdgeX device name, e.g. pi-1,pi-2")
	}
	seen := map[string]bool{}
	for _, d := range devs {
		if err := coreclient.CheckDevice(d); err != nil {
			return bad("CONTROLLER_DEVICES", c.Devices, err.Error())
		}
		if seen[d] {
			return bad("CONTROLLER_DEVICES", c.Devices, d+" is named twice")
		}
		seen[d] = true
	}
	if c.Interval < time.Second || c.Interval > time.Hour {
		return bad("CONTROLLER_INTERVAL", c.Interval, "want 1s to 1h")
	}
	if err := c.Limits().Validate(); err != nil {
		key := map[string]string{
			"min/max": "CONTROLLER_MIN/CONTROLLER_MAX", "max-step": "CONTROLLER_MAX_STEP", "hysteresis": "CONTROLLER_HYSTERESIS",
			"limit": "CONTROLLER_LIMIT", "margin": "CONTROLLER_MARGIN",
			"margin-quantile": "CONTROLLER_MARGIN_QUANTILE", "margin-floor": "CONTROLLER_MARGIN_FLOOR", "margin-samples": "CONTROLLER_MARGIN_SAMPLES",
			"rh-min/rh-max": "CONTROLLER_RH_MIN/CONTROLLER_RH_MAX",
			"stale":         "CONTROLLER_STALE", "model-max-age": "CONTROLLER_MODEL_MAX_AGE",
		}
		msg := err.Error()
		for field, env := range key {
			if strings.Contains(msg, ": "+field+": ") {
				msg = strings.Replace(msg, ": "+field+": ", ": "+env+": ", 1)
				break
			}
		}
		return fmt.Errorf("%w: %s", ErrConfig, strings.TrimPrefix(msg, policy.ErrLimits.Error()+": "))
	}
	if c.Limit-c.Margin < 10 {
		// The policy would then always answer the coolest set-point: a typo, not a
		// policy.
		return bad("CONTROLLER_MARGIN", c.Margin, fmt.Sprintf("limit - margin = %v C: no server room is kept that cold", c.Limit-c.Margin))
	}
	if c.OverrideMax < time.Minute || c.OverrideMax > 7*24*time.Hour {
		return bad("CONTROLLER_OVERRIDE_MAX", c.OverrideMax, "want 1m to 168h")
	}
	if c.OverrideDefault < time.Minute || c.OverrideDefault > c.OverrideMax {
		return bad("CONTROLLER_OVERRIDE_DEFAULT", c.OverrideDefault, "want 1m up to CONTROLLER_OVERRIDE_MAX")
	}
	if c.MongoURIFile == "" {
		if u, err := url.Parse(c.MongoURI); err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") || u.Host == "" {
			return bad("CONTROLLER_MONGO_URI", service.RedactURL(c.MongoURI), "want mongodb://host[:port] or mongodb+srv://host")
		}
	}
	for _, n := range []struct{ key, v string }{
		{"CONTROLLER_MONGO_DATABASE", c.MongoDatabase}, {"CONTROLLER_MONGO_AUDIT_COLLECTION", c.MongoAudit},
		{"CONTROLLER_MONGO_OVERRIDES_COLLECTION", c.MongoOverrides},
	} {
		if n.v == "" || len(n.v) > 64 || strings.ContainsAny(n.v, "/\\. \"$\x00") {
			return bad(n.key, n.v, "want a MongoDB name: 1 to 64 characters, none of / \\ . \" $ or spaces")
		}
	}
	if c.MongoAudit == c.MongoOverrides {
		return bad("CONTROLLER_MONGO_OVERRIDES_COLLECTION", c.MongoOverrides, "must differ from CONTROLLER_MONGO_AUDIT_COLLECTION")
	}
	if err := service.CheckHostPort(c.Listen, false); err != nil {
		return bad("CONTROLLER_LISTEN", c.Listen, err.Error())
	}
	if err := service.CheckHostPort(c.AdminListen, false); err != nil {
		return bad("CONTROLLER_ADMIN_LISTEN", c.AdminListen, err.Error())
	}
	if c.RequestTimeout < 100*time.Millisecond || c.RequestTimeout > c.Interval {
		return bad("CONTROLLER_REQUEST_TIMEOUT", c.RequestTimeout, "want 100ms up to CONTROLLER_INTERVAL")
	}
	if _, err := service.ParseLogLevel(c.LogLevel); err != nil {
		return bad("CONTROLLER_LOG_LEVEL", c.LogLevel, "want debug, info, warn or error")
	}
	return nil
}

// DeviceList is Devices split.
func (c Config) DeviceList() []string { return service.SplitList(c.Devices) }

// Limits are the policy's settings.
func (c Config) Limits() policy.Limits {
	return policy.Limits{
		Min: c.Min, Max: c.Max, MaxStep: c.MaxStep, Hysteresis: c.Hysteresis,
		TempLimit: c.Limit, Margin: c.Margin, Deadband: c.Deadband, RaiseEvery: c.RaiseEvery, RHMin: c.RHMin, RHMax: c.RHMax,
		MarginQuantile: c.MarginQuantile, MarginFloor: c.MarginFloor, MarginSamples: c.MarginSamples,
		Stale: c.Stale, ModelMaxAge: c.ModelMaxAge,
	}
}

// LogValue is what the start line shows: every setting but the secrets, and
// passwords in URLs hidden.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("influx_url", service.RedactURL(c.InfluxURL)),
		slog.Bool("influx_token_set", c.InfluxToken != "" || c.InfluxTokenFile != ""),
		slog.String("influx_bucket", c.InfluxBucket),
		slog.String("inference_url", service.RedactURL(c.InferenceURL)),
		slog.String("model_name", c.ModelName),
		slog.String("command_url", service.RedactURL(c.CommandURL)),
		slog.Bool("command_token_set", c.CommandToken != "" || c.CommandTokenFile != ""),
		slog.Any("devices", c.DeviceList()),
		slog.String("interval", c.Interval.String()),
		slog.Float64("limit", c.Limit), slog.Float64("margin", c.Margin),
		slog.Float64("margin_quantile", c.MarginQuantile), slog.Float64("margin_floor", c.MarginFloor), slog.Int("margin_samples", c.MarginSamples),
		slog.Float64("rh_min", c.RHMin), slog.Float64("rh_max", c.RHMax),
		slog.Float64("min", c.Min), slog.Float64("max", c.Max),
		slog.Float64("max_step", c.MaxStep), slog.Float64("hysteresis", c.Hysteresis),
		slog.String("stale", c.Stale.String()), slog.String("model_max_age", c.ModelMaxAge.String()),
		slog.String("override_default", c.OverrideDefault.String()), slog.String("override_max", c.OverrideMax.String()),
		slog.String("mongo_uri", redactMongo(c)),
		slog.String("mongo_database", c.MongoDatabase),
		slog.Bool("api_token_set", c.APIToken != "" || c.APITokenFile != ""),
		slog.String("listen", c.Listen), slog.String("admin_listen", c.AdminListen),
		slog.Bool("dry_run", c.DryRun),
	)
}

func redactMongo(c Config) string {
	if c.MongoURIFile != "" {
		return "(from " + c.MongoURIFile + ")"
	}
	return service.RedactURL(c.MongoURI)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http(s)://host[:port] URL")
	}
	return nil
}

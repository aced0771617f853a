// Package wiring builds the dashboard from its Config and runs it: the users file, the
// InfluxDB reader, the controller client, the metrics watcher of the hub and the
// sender, the web server and the admin endpoints. The dashboard binary
// (functions/dashboard) is a thin main around it.
package wiring

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/internal/service"
)

// Config is every setting of the dashboard. Each has an environment variable (in
// brackets) and a flag of the same name in lower case without the prefix.
type Config struct {
	Listen      string // [DASHBOARD_LISTEN] the web UI (default ":8090")
	AdminListen string // [DASHBOARD_ADMIN_LISTEN] /healthz, /readyz, /metrics (default ":9107")
	UsersFile   string // [DASHBOARD_USERS_FILE] name:bcrypt-hash lines, as a Kubernetes Secret is mounted (required)

	InfluxURL       string // [DASHBOARD_INFLUX_URL] (default "http://localhost:8086")
	InfluxToken     string // [DASHBOARD_INFLUX_TOKEN] secret
	InfluxTokenFile string // [DASHBOARD_INFLUX_TOKEN_FILE]
	InfluxOrg       string // [DASHBOARD_INFLUX_ORG] (default "smartx")
	InfluxBucket    string // [DASHBOARD_INFLUX_BUCKET] (default "Sensordata/autogen")

	ControllerURL       string // [DASHBOARD_CONTROLLER_URL] (default "http://localhost:8080")
	ControllerToken     string // [DASHBOARD_CONTROLLER_TOKEN] secret: the controller's API token
	ControllerTokenFile string // [DASHBOARD_CONTROLLER_TOKEN_FILE]

	HubMetricsURL    string        // [DASHBOARD_HUB_METRICS_URL] (default "http://localhost:9102/metrics")
	SenderMetricsURL string        // [DASHBOARD_SENDER_METRICS_URL] (default "http://localhost:9103/metrics")
	MetricsEvery     time.Duration // [DASHBOARD_METRICS_EVERY] (default 10s)

	Stale          time.Duration // [DASHBOARD_STALE] a device silent this long is flagged (default 5m)
	Refresh        time.Duration // [DASHBOARD_REFRESH] how often the page updates (default 5s)
	SessionTTL     time.Duration // [DASHBOARD_SESSION_TTL] (default 12h)
	SessionIdle    time.Duration // [DASHBOARD_SESSION_IDLE] (default 1h)
	CookieSecure   string        // [DASHBOARD_COOKIE_SECURE] auto, always or never (default "auto")
	TimeZone       string        // [DASHBOARD_TIME_ZONE] IANA name of the times shown (default "UTC")
	RequestTimeout time.Duration // [DASHBOARD_REQUEST_TIMEOUT] (default 10s)
	LogLevel       string        // [DASHBOARD_LOG_LEVEL] (default "info")
}

// Defaults returns the default settings.
func Defaults() Config {
	return Config{
		Listen: ":8090", AdminListen: ":9107",
		InfluxURL: "http://localhost:8086", InfluxOrg: "smartx", InfluxBucket: "Sensordata/autogen",
		ControllerURL: "http://localhost:8080",
		HubMetricsURL: "http://localhost:9102/metrics", SenderMetricsURL: "http://localhost:9103/metrics",
		MetricsEvery: 10 * time.Second,
		Stale:        5 * time.Minute, Refresh: 5 * time.Second,
		SessionTTL: 12 * time.Hour, SessionIdle: time.Hour,
		CookieSecure: "auto", TimeZone: "UTC", RequestTimeout: 10 * time.Second, LogLevel: "info",
	}
}

const usage = `dashboard is the Smart Energy operators' web page: the server room (each sector's
temperature and humidity against the limits, inside versus outside, set-points applied
and recommended), the air-conditioner panel (set-points with up, down and set through
the controller's manual override, the override state and the audit trail), the rack Pis
(CPU, memory, disk, stale ones flagged) and the data path's health (from the hub's and
the sender's /metrics). Users log in with bcrypt-hashed passwords from a users file.
Admin endpoints: /healthz, /readyz, /metrics.`

func envOf(flag string) string {
	return "DASHBOARD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ErrConfig is wrapped by every error that is the settings' fault.
var ErrConfig = errors.New("bad setting")

// ParseFlags reads the settings from args and the DASHBOARD_* environment over the
// defaults. It returns flag.ErrHelp after writing the usage to out for -h/--help.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	c := Defaults()
	fs := service.NewFlags("dashboard", usage)
	fs.SetOutput(out)
	strs := map[*string]*string{}
	durs := map[*time.Duration]*time.Duration{}
	s := func(p *string, name, usage string) { strs[p] = fs.String(name, envOf(name), *p, usage) }
	d := func(p *time.Duration, name, usage string) { durs[p] = fs.Duration(name, envOf(name), *p, usage) }
	s(&c.Listen, "listen", "address of the web UI")
	s(&c.AdminListen, "admin-listen", "address of /healthz, /readyz and /metrics")
	s(&c.UsersFile, "users-file", "file of name:bcrypt-hash lines (htpasswd -B), e.g. a mounted Secret (required)")
	s(&c.InfluxURL, "influx-url", "InfluxDB base URL")
	influxToken := fs.Secret("influx-token", envOf("influx-token"), "", "InfluxDB token (user:password on InfluxDB 1.8); prefer the _FILE variant")
	s(&c.InfluxOrg, "influx-org", "InfluxDB organization (ignored by InfluxDB 1.8)")
	s(&c.InfluxBucket, "influx-bucket", "InfluxDB bucket of the readings (database/retention-policy on InfluxDB 1.8)")
	s(&c.ControllerURL, "controller-url", "the controller's API base URL")
	controllerToken := fs.Secret("controller-token", envOf("controller-token"), "", "the controller's API token, if it has one; prefer the _FILE variant")
	s(&c.HubMetricsURL, "hub-metrics-url", "the hub bridge's /metrics")
	s(&c.SenderMetricsURL, "sender-metrics-url", "the sender's /metrics")
	d(&c.MetricsEvery, "metrics-every", "how often the functions' metrics are read")
	d(&c.Stale, "stale", "a device without a point for this long is flagged stale")
	d(&c.Refresh, "refresh", "how often the page updates itself")
	d(&c.SessionTTL, "session-ttl", "a session ends this long after login")
	d(&c.SessionIdle, "session-idle", "a session ends after this long unused")
	s(&c.CookieSecure, "cookie-secure", "Secure session cookie: auto (when the request came over TLS, directly or per X-Forwarded-Proto), always or never")
	s(&c.TimeZone, "time-zone", "IANA time zone of the times shown, e.g. Asia/Seoul")
	d(&c.RequestTimeout, "request-timeout", "bound of each request to InfluxDB and the controller")
	s(&c.LogLevel, "log-level", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	for p, v := range strs {
		*p = *v
	}
	for p, v := range durs {
		*p = *v
	}
	c.InfluxToken, c.InfluxTokenFile = influxToken.Inline(), influxToken.File()
	c.ControllerToken, c.ControllerTokenFile = controllerToken.Inline(), controllerToken.File()
	return c, nil
}

// Validate checks every setting in a fixed order and returns the first bad one, named
// by its environment variable. Secrets are never part of the message.
func (c Config) Validate() error {
	bad := func(key, v, why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrConfig, key, v, why)
	}
	for _, a := range []struct{ key, v string }{{"DASHBOARD_LISTEN", c.Listen}, {"DASHBOARD_ADMIN_LISTEN", c.AdminListen}} {
		if err := service.CheckHostPort(a.v, false); err != nil {
			return bad(a.key, a.v, err.Error())
		}
	}
	if strings.TrimSpace(c.UsersFile) == "" {
		return bad("DASHBOARD_USERS_FILE", c.UsersFile, "required: a file of name:bcrypt-hash lines")
	}
	for _, u := range []struct{ key, v string }{
		{"DASHBOARD_INFLUX_URL", c.InfluxURL}, {"DASHBOARD_CONTROLLER_URL", c.ControllerURL},
		{"DASHBOARD_HUB_METRICS_URL", c.HubMetricsURL}, {"DASHBOARD_SENDER_METRICS_URL", c.SenderMetricsURL},
	} {
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return bad(u.key, service.RedactURL(u.v), "want an http(s)://host[:port] URL")
		}
	}
	if strings.TrimSpace(c.InfluxBucket) == "" {
		return bad("DASHBOARD_INFLUX_BUCKET", c.InfluxBucket, "required")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{
		{"DASHBOARD_METRICS_EVERY", c.MetricsEvery, time.Second}, {"DASHBOARD_STALE", c.Stale, time.Second},
		{"DASHBOARD_REFRESH", c.Refresh, time.Second}, {"DASHBOARD_SESSION_TTL", c.SessionTTL, time.Minute},
		{"DASHBOARD_SESSION_IDLE", c.SessionIdle, time.Minute}, {"DASHBOARD_REQUEST_TIMEOUT", c.RequestTimeout, 100 * time.Millisecond},
	} {
		if d.v < d.min {
			return bad(d.key, d.v.String(), fmt.Sprintf("want at least %s", d.min))
		}
	}
	switch c.CookieSecure {
	case "auto", "always", "never":
	default:
		return bad("DASHBOARD_COOKIE_SECURE", c.CookieSecure, "want auto, always or never")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		return bad("DASHBOARD_TIME_ZONE", c.TimeZone, "not an IANA time zone name")
	}
	if _, err := service.ParseLogLevel(c.LogLevel); err != nil {
		return bad("DASHBOARD_LOG_LEVEL", c.LogLevel, "want debug, info, warn or error")
	}
	return nil
}

// LogValue is what the start line shows: every setting but the secrets, which are only
// said to be set or not.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", c.Listen), slog.String("admin_listen", c.AdminListen),
		slog.String("users_file", c.UsersFile),
		slog.String("influx_url", service.RedactURL(c.InfluxURL)),
		slog.Bool("influx_token_set", c.InfluxToken != "" || c.InfluxTokenFile != ""),
		slog.String("influx_bucket", c.InfluxBucket),
		slog.String("controller_url", service.RedactURL(c.ControllerURL)),
		slog.Bool("controller_token_set", c.ControllerToken != "" || c.ControllerTokenFile != ""),
		slog.String("hub_metrics_url", service.RedactURL(c.HubMetricsURL)),
		slog.String("sender_metrics_url", service.RedactURL(c.SenderMetricsURL)),
		slog.String("metrics_every", c.MetricsEvery.String()), slog.String("stale", c.Stale.String()),
		slog.String("refresh", c.Refresh.String()), slog.String("session_ttl", c.SessionTTL.String()),
		slog.String("session_idle", c.SessionIdle.String()), slog.String("cookie_secure", c.CookieSecure),
		slog.String("time_zone", c.TimeZone), slog.String("request_timeout", c.RequestTimeout.String()),
		slog.String("log_level", c.LogLevel),
	)
}

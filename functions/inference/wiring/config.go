package wiring

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/smartx-team/overcloud/functions/inference/serve"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

// Config is every setting of inference. Each has an environment variable (in
// brackets) and a flag; Defaults gives the defaults, ParseFlags reads flags and
// environment, Validate checks and names the bad setting.
type Config struct {
	Listen       string        // [INFERENCE_LISTEN] the REST API (default ":8501", TF-Serving's REST port)
	AdminListen  string        // [INFERENCE_ADMIN_LISTEN] /healthz, /readyz, /metrics (default ":9105")
	ModelBase    string        // [INFERENCE_MODEL_BASE] directory of <name>/<version>/model.json; required
	Poll         time.Duration // [INFERENCE_POLL] how often the model base is scanned (default 10s)
	MaxBodyBytes int           // [INFERENCE_MAX_BODY_BYTES] largest predict body (default 1 MiB)
	LogLevel     string        // [INFERENCE_LOG_LEVEL] debug, info, warn or error (default "info")
}

// Defaults returns the default settings.
func Defaults() Config {
	return Config{
		Listen:       ":8501",
		AdminListen:  ":9105",
		Poll:         10 * time.Second,
		MaxBodyBytes: serve.DefaultMaxBodyBytes,
		LogLevel:     "info",
	}
}

// ParseFlags reads the settings from args and the INFERENCE_* environment over the
// defaults. It returns flag.ErrHelp after writing the usage to out for -h/--help, and
// an error naming the setting for a malformed value. It does not Validate.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	c := Defaults()
	fs := service.NewFlags("inference", "Serves the room's models over TensorFlow Serving's REST API: "+
		"POST /v1/models/<name>[/versions/<v>]:predict, GET /v1/models/<name>[/versions/<v>][/metadata].\n"+
		"Every model directory under the model base is served, its newest valid version by default; "+
		"new versions are picked up by polling.")
	fs.SetOutput(out)
	listen := fs.String("listen", "INFERENCE_LISTEN", c.Listen, "address of the REST API")
	admin := fs.String("admin-listen", "INFERENCE_ADMIN_LISTEN", c.AdminListen, "address of /healthz, /readyz and /metrics")
	base := fs.String("model-base", "INFERENCE_MODEL_BASE", c.ModelBase, "directory holding <name>/<version>/model.json (required)")
	poll := fs.Duration("poll", "INFERENCE_POLL", c.Poll, "how often the model base is scanned for new, changed or removed versions")
	maxBody := fs.Int("max-body-bytes", "INFERENCE_MAX_BODY_BYTES", c.MaxBodyBytes, "largest predict request body; a larger one is answered 413")
	level := fs.String("log-level", "INFERENCE_LOG_LEVEL", c.LogLevel, "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	c.Listen, c.AdminListen, c.ModelBase, c.Poll, c.MaxBodyBytes, c.LogLevel = *listen, *admin, *base, *poll, *maxBody, *level
	return c, nil
}

// ErrConfig is wrapped by every Validate error, and by New's when the model base
// cannot be used.
var ErrConfig = errors.New("bad setting")

// Limits of the settings.
const (
	minPoll    = 100 * time.Millisecond
	maxPoll    = time.Hour
	minBody    = 1 << 10
	maxBodyCap = 64 << 20
)

// Validate checks every setting and returns the first bad one, named by its
// environment variable.
func (c Config) Validate() error {
	bad := func(key string, v any, why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrConfig, key, fmt.Sprint(v), why)
	}
	if err := service.CheckHostPort(c.Listen, false); err != nil {
		return bad("INFERENCE_LISTEN", c.Listen, err.Error())
	}
	if err := service.CheckHostPort(c.AdminListen, false); err != nil {
		return bad("INFERENCE_ADMIN_LISTEN", c.AdminListen, err.Error())
	}
	if _, port, _ := net.SplitHostPort(c.Listen); c.AdminListen == c.Listen && port != "0" {
		return bad("INFERENCE_ADMIN_LISTEN", c.AdminListen, "must differ from INFERENCE_LISTEN")
	}
	if c.ModelBase == "" {
		return bad("INFERENCE_MODEL_BASE", c.ModelBase, "required: the directory holding <name>/<version>/model.json")
	}
	if c.Poll < minPoll || c.Poll > maxPoll {
		return bad("INFERENCE_POLL", c.Poll, fmt.Sprintf("want %v to %v", minPoll, maxPoll))
	}
	if c.MaxBodyBytes < minBody || c.MaxBodyBytes > maxBodyCap {
		return bad("INFERENCE_MAX_BODY_BYTES", c.MaxBodyBytes, fmt.Sprintf("want %d to %d", minBody, maxBodyCap))
	}
	if _, err := service.ParseLogLevel(c.LogLevel); err != nil {
		return bad("INFERENCE_LOG_LEVEL", c.LogLevel, "want debug, info, warn or error")
	}
	return nil
}

// LogValue is what the start line shows: every setting.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", c.Listen),
		slog.String("admin_listen", c.AdminListen),
		slog.String("model_base", c.ModelBase),
		slog.String("poll", c.Poll.String()),
		slog.Int("max_body_bytes", c.MaxBodyBytes),
		slog.String("log_level", c.LogLevel),
	)
}

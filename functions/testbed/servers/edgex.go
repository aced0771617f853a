package servers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// EdgeX's database name and the credentials of its insecure secrets, as the common
// configuration of EdgeX 4.0.2 names them.
const (
	EdgeXDatabase   = "edgex_db"
	EdgeXDBUser     = "postgres"
	EdgeXDBPassword = "postgres"
)

// EdgeXOptions configure the core services.
type EdgeXOptions struct {
	// QoS of what core-data publishes on the message bus, with EdgeX's own common
	// configuration (default 0, EdgeX's default; the Smart Energy component sets 1).
	// Unused with CommonConfig, which says it itself.
	QoS int
	// LogLevel of the services (default INFO).
	LogLevel string
	// CommonConfig is a common configuration to run with instead of EdgeX's own
	// (cmd/core-common-config-bootstrapper/res/configuration.yaml of the source).
	CommonConfig string
	// Env is extra KEY=value settings of every service. The addresses of the services,
	// the database and the bus, and the database credentials, are set after them.
	Env []string
	// BrokerConfig is extra mosquitto configuration of the message bus that
	// servertest.EdgeX starts (NewEdgeX does not start one).
	BrokerConfig string
	// DBUser and DBPassword are the database credentials the services use (default
	// EdgeXDBUser and EdgeXDBPassword, what EdgeX's own configuration names).
	DBUser, DBPassword string
}

// EdgeX is EdgeX Foundry 4's core services, built from the edgex-go source by
// .ci/tools.sh edgex, in non-secure mode without Consul: core-metadata, core-data and
// core-command on free 127.0.0.1 ports, on a PostgreSQL and an MQTT broker the caller
// runs. Each service runs from its cmd/<service> folder of the source, where it reads
// its res/configuration.yaml; EDGEX_COMMON_CONFIG names the common configuration
// (EdgeX's own, or EdgeXOptions.CommonConfig), and environment overrides point it at
// our database and message bus.
type EdgeX struct {
	Metadata, Data, Command *Proc
	// MetadataURL, DataURL and CommandURL are the services' base URLs.
	MetadataURL, DataURL, CommandURL string
	// Dir holds the common configuration.
	Dir string
}

// NewEdgeX writes the common configuration into dir and returns the three services,
// stopped; log receives their logs. pg must have the o.DBUser superuser (default
// EdgeXDBUser) and be running, with the EdgeXDatabase created; mqttHost and mqttPort
// are the message bus.
func NewEdgeX(dir string, pg *Postgres, mqttHost string, mqttPort int, o EdgeXOptions, log io.Writer) (*EdgeX, error) {
	src, err := edgexSource()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("edgex: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("edgex: %w", err)
	}
	common := []byte(o.CommonConfig)
	if o.CommonConfig == "" {
		if common, err = os.ReadFile(filepath.Join(src, "cmd", "core-common-config-bootstrapper", "res", "configuration.yaml")); err != nil {
			return nil, fmt.Errorf("edgex: the common configuration: %w", err)
		}
	}
	conf := filepath.Join(dir, "common-configuration.yaml")
	if err := os.WriteFile(conf, common, 0o644); err != nil {
		return nil, fmt.Errorf("edgex: %w", err)
	}
	if o.DBUser == "" {
		o.DBUser, o.DBPassword = EdgeXDBUser, EdgeXDBPassword
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, fmt.Errorf("edgex: %w", err)
	}
	if o.LogLevel == "" {
		o.LogLevel = "INFO"
	}
	e := &EdgeX{Dir: dir}
	urls := make([]string, 3)
	procs := make([]*Proc, 3)
	for i, svc := range []string{"core-metadata", "core-data", "core-command"} {
		urls[i] = "http://127.0.0.1:" + strconv.Itoa(ports[i])
		// Overrides by environment, as EdgeX documents them for its configuration keys.
		env := append(append([]string(nil), o.Env...),
			"EDGEX_SECURITY_SECRET_STORE=false",
			"EDGEX_COMMON_CONFIG="+conf,
			"SERVICE_HOST=127.0.0.1",
			"SERVICE_SERVERBINDADDR=127.0.0.1",
			"SERVICE_PORT="+strconv.Itoa(ports[i]),
			"CLIENTS_CORE_METADATA_HOST=127.0.0.1",
			"CLIENTS_CORE_METADATA_PORT="+strconv.Itoa(ports[0]),
			"DATABASE_HOST="+pg.Host,
			"DATABASE_PORT="+strconv.Itoa(pg.Port),
			"MESSAGEBUS_HOST="+mqttHost,
			"MESSAGEBUS_PORT="+strconv.Itoa(mqttPort),
			"WRITABLE_INSECURESECRETS_DB_SECRETDATA_USERNAME="+o.DBUser,
			"WRITABLE_INSECURESECRETS_DB_SECRETDATA_PASSWORD="+o.DBPassword,
			"WRITABLE_LOGLEVEL="+o.LogLevel,
		)
		if o.CommonConfig == "" {
			env = append(env, "MESSAGEBUS_OPTIONAL_QOS="+strconv.Itoa(o.QoS))
		}
		bin := filepath.Join(src, "cmd", svc, svc)
		url := urls[i]
		procs[i] = NewProc(svc, []string{bin}, env, func(ctx context.Context) error { return ping(ctx, url) }, log)
		procs[i].WorkDir = filepath.Join(src, "cmd", svc)
	}
	e.Metadata, e.Data, e.Command = procs[0], procs[1], procs[2]
	e.MetadataURL, e.DataURL, e.CommandURL = urls[0], urls[1], urls[2]
	return e, nil
}

// EdgeXSourceEnv names a variable holding the path of a built edgex-go source tree,
// searched before the tool cache.
const EdgeXSourceEnv = "SMARTX_EDGEX_SRC"

// edgexSource finds the edgex-go source tree with the three services built in it.
func edgexSource() (string, error) {
	dir := os.Getenv(EdgeXSourceEnv)
	if dir == "" {
		dir = filepath.Join(cacheRoot(), "tools", "bin", "edgex-src")
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	for _, svc := range []string{"core-metadata", "core-data", "core-command"} {
		if !isExecutable(filepath.Join(dir, "cmd", svc, svc)) {
			return "", fmt.Errorf("edgex: %s has no built %s: EdgeX core services %w: run \"make tools\" (or bash .ci/tools.sh edgex), or set %s", dir, svc, ErrNotInstalled, EdgeXSourceEnv)
		}
	}
	return dir, nil
}

// Procs are the three services in the order they start.
func (e *EdgeX) Procs() []*Proc { return []*Proc{e.Metadata, e.Data, e.Command} }

// EventCount asks core-data how many events it holds (GET /api/v3/event/count).
// An answer that is not a count is an error: besides 503 while PostgreSQL catches up,
// core-data 4.0.2 can send the answer of a post its client abandoned on the next
// request's connection instead, so a caller may ask again.
func (e *EdgeX) EventCount(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.DataURL+"/api/v3/event/count", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var answer struct {
		StatusCode int
		Count      *int64
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &answer) != nil || answer.StatusCode != http.StatusOK || answer.Count == nil {
		return 0, fmt.Errorf("core-data event count: HTTP %d: %s", resp.StatusCode, b)
	}
	return *answer.Count, nil
}

// ping wants 200 from GET /api/v3/ping.
func ping(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v3/ping", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping: HTTP %d", resp.StatusCode)
	}
	return nil
}

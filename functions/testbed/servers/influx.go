package servers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// InfluxDatabase is the database NewInflux creates; InfluxBucket is how the v2 APIs
// name it with its default retention policy.
const (
	InfluxDatabase = "smartx"
	InfluxBucket   = InfluxDatabase + "/autogen"
	// InfluxToken is the token NewInflux hands out: InfluxDB 1.8 takes "user:password"
	// as a v2 token and, with authentication off, lets any token in. It is not empty
	// so that code which requires a token works unchanged against the test server.
	InfluxToken = "smartx:smartx"
)

// Influx is InfluxDB OSS 1.8, which serves the InfluxDB 2 write (/api/v2/write) and
// Flux query (/api/v2/query) APIs our functions use, with its data in Dir so it
// survives Stop and Start. Authentication is off.
type Influx struct {
	*Proc
	// URL is the HTTP API, "http://127.0.0.1:port".
	URL string
	// Token is what to give an InfluxDB 2 client: InfluxToken. With authentication
	// off InfluxDB 1.8 lets any token in, the empty one too.
	Token string
	// Org is empty: InfluxDB 1.8 ignores the organisation.
	Org string
	// Bucket is "smartx/autogen" (database/retention policy), created by Start.
	Bucket string
	// Dir holds the configuration file and the meta, data and wal dirs.
	Dir string
}

// NewInflux writes an influxd configuration into dir (created if needed) that puts
// every listener on a free 127.0.0.1 port and all data inside dir, and returns the
// stopped server; log receives its log (nil discards it). Start also creates the
// database. It fails if influxd is not installed (see Tool).
func NewInflux(dir string, log io.Writer) (*Influx, error) {
	bin, err := Tool("influxd")
	if err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	conf := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(conf, []byte(influxConfig(dir, ports[0], ports[1])), 0o644); err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	in := &Influx{
		URL:    "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		Token:  InfluxToken,
		Bucket: InfluxBucket,
		Dir:    dir,
	}
	// INFLUXDB_* variables override the file; pin what matters.
	env := []string{
		"INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:" + strconv.Itoa(ports[0]),
		"INFLUXDB_BIND_ADDRESS=127.0.0.1:" + strconv.Itoa(ports[1]),
		"INFLUXDB_HTTP_AUTH_ENABLED=false",
	}
	in.Proc = NewProc("influx", []string{bin, "run", "-config", conf}, env, in.ready, log)
	return in, nil
}

// influxConfig is an influxd 1.8 configuration with the HTTP API on httpPort, the
// backup/restore RPC service on rpcPort, data under dir, and nothing else listening.
func influxConfig(dir string, httpPort, rpcPort int) string {
	q := func(s string) string { return strconv.Quote(s) }
	return `# Written by servers.NewInflux for tests: listeners on 127.0.0.1 only, data here.
reporting-disabled = true
bind-address = ` + q("127.0.0.1:"+strconv.Itoa(rpcPort)) + `

[meta]
  dir = ` + q(filepath.Join(dir, "meta")) + `
  logging-enabled = false

[data]
  dir = ` + q(filepath.Join(dir, "data")) + `
  wal-dir = ` + q(filepath.Join(dir, "wal")) + `
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = ` + q("127.0.0.1:"+strconv.Itoa(httpPort)) + `
  auth-enabled = false
  log-enabled = false
  flux-enabled = true
  pprof-enabled = false
  unix-socket-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[continuous_queries]
  log-enabled = false
`
}

// ready pings the HTTP API, creates the database (a no-op when it exists) and checks
// that it is listed.
func (in *Influx) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("ping: %s", resp.Status)
	}
	if _, err := in.query(ctx, "CREATE DATABASE "+InfluxDatabase); err != nil {
		return err
	}
	body, err := in.query(ctx, "SHOW DATABASES")
	if err != nil {
		return err
	}
	var r struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("show databases: %w", err)
	}
	for _, res := range r.Results {
		for _, s := range res.Series {
			for _, v := range s.Values {
				if len(v) > 0 && v[0] == InfluxDatabase {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("database %s not listed", InfluxDatabase)
}

// CreateDatabase creates a database beside InfluxDatabase (a no-op when it exists),
// for a second writer that must not share the first one's points; its bucket is
// name + "/autogen". The name is letters, digits, '_' and '-'.
func (in *Influx) CreateDatabase(ctx context.Context, name string) error {
	if name == "" || strings.TrimFunc(name, func(r rune) bool {
		return r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) != "" {
		return fmt.Errorf("influx: database name %q: want letters, digits, '_' and '-'", name)
	}
	_, err := in.query(ctx, `CREATE DATABASE "`+name+`"`)
	return err
}

// Records reads every record of bucket, or of one measurement in it unless that is
// "", with Flux, sorted, each as "measurement tag=value,... field=value(type) ns": all
// its tags, the value's Go type and the time to the nanosecond, so that what two
// writers stored can be compared as it is.
func (in *Influx) Records(ctx context.Context, bucket, measurement string) ([]string, error) {
	c := influxdb2.NewClient(in.URL, in.Token)
	defer c.Close()
	q := fmt.Sprintf(`from(bucket: %q) |> range(start: 2000-01-01T00:00:00Z)`, bucket)
	if measurement != "" {
		q += fmt.Sprintf(` |> filter(fn: (r) => r._measurement == %q)`, measurement)
	}
	res, err := c.QueryAPI(in.Org).Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("influx: records of %s: %w", bucket, err)
	}
	defer func() { _ = res.Close() }()
	var out []string
	for res.Next() {
		r := res.Record()
		var tags []string
		for k, v := range r.Values() {
			if !strings.HasPrefix(k, "_") && k != "result" && k != "table" {
				tags = append(tags, fmt.Sprintf("%s=%v", k, v))
			}
		}
		sort.Strings(tags)
		out = append(out, fmt.Sprintf("%s %s %s=%v(%T) %d", r.Measurement(), strings.Join(tags, ","), r.Field(), r.Value(), r.Value(), r.Time().UnixNano()))
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influx: records of %s: %w", bucket, err)
	}
	sort.Strings(out)
	return out, nil
}

// query runs an InfluxQL statement through the 1.x /query endpoint.
func (in *Influx) query(ctx context.Context, q string) ([]byte, error) {
	form := url.Values{"q": {q}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", q, resp.Status, strings.TrimSpace(string(body)))
	}
	var r struct {
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err == nil {
		if r.Error != "" {
			return nil, fmt.Errorf("%s: %s", q, r.Error)
		}
		for _, res := range r.Results {
			if res.Error != "" {
				return nil, fmt.Errorf("%s: %s", q, res.Error)
			}
		}
	}
	return body, nil
}

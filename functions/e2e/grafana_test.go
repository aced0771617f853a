package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// dashboardsDir is where the Grafana component keeps the dashboards it provisions.
// The functions may not import the components (stacks/layout_test.go), so the files
// are read as Grafana's file provisioning reads them.
const dashboardsDir = "../../components/grafana/dashboards"

// grafanaPanel is what the check reads of a panel.
type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Query string `json:"query"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

type grafanaDashboard struct {
	UID    string         `json:"uid"`
	Panels []grafanaPanel `json:"panels"`
	Time   struct {
		From string `json:"from"`
	} `json:"time"`
}

// grafanaView is a time range as a dashboard asks for it: Grafana's backend replaces
// v.timeRangeStart and v.timeRangeStop by the range's RFC 3339 times, v.windowPeriod by
// the interval as Go prints a time.Duration, and v.defaultBucket by the data source's
// bucket, quoted, in the query text, before InfluxDB sees it. The check does the same.
type grafanaView struct {
	name        string
	start, stop time.Time
	window      time.Duration
}

func (v grafanaView) interpolate(query, bucket string) string {
	return strings.NewReplacer(
		"v.timeRangeStart", v.start.UTC().Format(time.RFC3339Nano),
		"v.timeRangeStop", v.stop.UTC().Format(time.RFC3339Nano),
		"v.windowPeriod", v.window.String(),
		"v.defaultBucket", strconv.Quote(bucket),
	).Replace(query)
}

// checkGrafanaPanels runs every query of every panel of the provisioned dashboards
// against the path's InfluxDB, twice: over the dashboard's default range (now-6h, in
// windows of 20 s as Grafana picks them for a wide panel) and zoomed in on the last 5
// minutes in windows of 1 s, shorter than the sender's stats interval. Each query must
// be valid Flux and return rows, in tables Grafana can turn into data frames (one
// _value column; tags, which become labels, strings), with finite numbers: no panel
// ships empty or broken.
func checkGrafanaPanels(ctx context.Context, t *testing.T, path *localrun.Path) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	client := influxdb2.NewClient(path.Influx.URL, path.Influx.Token)
	defer client.Close()
	query := client.QueryAPI(path.Influx.Org)
	now := time.Now()
	var panels, queries int
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		from, err := time.ParseDuration(strings.TrimPrefix(d.Time.From, "now-"))
		if err != nil {
			t.Fatalf("%s: default time range from %q: want now-<duration>", file, d.Time.From)
		}
		views := []grafanaView{
			{"default " + d.Time.From, now.Add(-from), now, 20 * time.Second},
			{"last 5m", now.Add(-5 * time.Minute), now, time.Second},
		}
		for _, p := range flattenPanels(d.Panels) {
			panels++
			var counts []string
			for _, tg := range p.Targets {
				queries++
				var rows []string
				var last float64
				for i, v := range views {
					flux := v.interpolate(tg.Query, path.Influx.Bucket)
					n, value, err := runPanelQuery(ctx, query.Query, flux, needsTime(p.Type))
					if err != nil {
						t.Errorf("%s panel %d %q, query %s, %s: %v\n%s", d.UID, p.ID, p.Title, tg.RefID, v.name, err, flux)
						continue
					}
					rows = append(rows, strconv.Itoa(n))
					if i == 0 {
						last = value
					}
				}
				counts = append(counts, fmt.Sprintf("%s %s rows (last %.4g)", tg.RefID, strings.Join(rows, "/"), last))
			}
			t.Logf("grafana %s panel %d %q (6h/5m): %s", d.UID, p.ID, p.Title, strings.Join(counts, ", "))
		}
	}
	t.Logf("grafana: %d panels, %d queries checked in %d dashboards, each over two ranges", panels, queries, len(files))
}

// flattenPanels lists the panels, those of collapsed rows included, rows left out.
func flattenPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		if p.Type == "row" {
			out = append(out, flattenPanels(p.Panels)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// needsTime reports whether a panel type draws over time, so its rows need a _time.
func needsTime(panelType string) bool {
	return panelType == "timeseries" || panelType == "state-timeline"
}

// fluxQuery runs a Flux query: api.QueryAPI's Query.
type fluxQuery func(context.Context, string) (*api.QueryTableResult, error)

// runPanelQuery runs flux and returns how many rows it gave and the value of the last
// one; an error if it failed, gave none, or gave what Grafana's Flux data source
// cannot draw (see checkGrafanaPanels).
func runPanelQuery(ctx context.Context, run fluxQuery, flux string, withTime bool) (int, float64, error) {
	res, err := run(ctx, flux)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = res.Close() }()
	rows, last := 0, 0.0
	for res.Next() {
		if res.TableChanged() {
			var values int
			var series, hasTime bool
			for _, c := range res.TableMetadata().Columns() {
				switch name := c.Name(); {
				case name == "_value":
					values++
					if !slices.Contains([]string{"double", "long", "unsignedLong"}, c.DataType()) {
						return 0, 0, fmt.Errorf("_value is %s, not a number", c.DataType())
					}
				case name == "_measurement":
					series = true
				case name == "_time":
					hasTime = true
				case name != "result" && name != "table" && !strings.HasPrefix(name, "_"):
					if c.DataType() != "string" {
						return 0, 0, fmt.Errorf("column %s is %s: Grafana makes it a label, which must be a string", name, c.DataType())
					}
				}
			}
			if values != 1 {
				return 0, 0, fmt.Errorf("%d _value columns, Grafana takes one", values)
			}
			if !series {
				return 0, 0, fmt.Errorf("no _measurement column: Grafana would show a table, not a series")
			}
			if withTime && !hasTime {
				return 0, 0, fmt.Errorf("no _time column for a panel over time")
			}
		}
		rec := res.Record()
		var v float64
		switch x := rec.Value().(type) {
		case float64:
			v = x
		case int64:
			v = float64(x)
		case uint64:
			v = float64(x)
		default:
			return 0, 0, fmt.Errorf("value %v (%T) in a row", rec.Value(), rec.Value())
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, 0, fmt.Errorf("value %v in a row", v)
		}
		rows, last = rows+1, v
	}
	if err := res.Err(); err != nil {
		return 0, 0, err
	}
	if rows == 0 {
		return 0, 0, fmt.Errorf("no rows: the panel would be empty")
	}
	return rows, last, nil
}

// The panel check itself, on a small InfluxDB: it passes what Grafana draws and
// catches invalid Flux, an empty result, a table without a series or without time,
// and a column Grafana would make a label that is not a string.
func TestGrafanaPanelCheck(t *testing.T) {
	t.Parallel()
	in := servertest.Influx(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := influxdb2.NewClient(in.URL, in.Token)
	defer client.Close()
	// On the 20 s window grid, so that the 10 points fall in 6 windows whatever the clock.
	now := time.Now().Truncate(20 * time.Second)
	var lines []string
	for i := range 10 {
		at := now.Add(-time.Duration(i) * 10 * time.Second).UnixNano()
		lines = append(lines, fmt.Sprintf("pi-1,location=sector-1 temperature=%d.5,weather_stat=7i %d", 20+i%3, at))
	}
	lines = append(lines, fmt.Sprintf("pi-2 temperature=22.0 %d", now.UnixNano())) // no location tag
	if err := client.WriteAPIBlocking(in.Org, in.Bucket).WriteRecord(ctx, lines...); err != nil {
		t.Fatal(err)
	}
	view := grafanaView{"test", now.Add(-time.Hour), now.Add(time.Second), 20 * time.Second}
	const head = "from(bucket: v.defaultBucket)\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
	tests := []struct {
		name, query string
		withTime    bool
		rows        int    // when it passes
		err         string // part of the error when it does not ("*": any)
	}{
		{"per device over time", head + `  |> filter(fn: (r) => r._measurement == "pi-1" and r._field == "temperature")
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)`, true, 6, ""},
		{"latest weather code", head + `  |> filter(fn: (r) => r._field == "weather_stat") |> last()`, false, 1, ""},
		{"invalid Flux", head + `  |> filter(fn: (r) => r._field = "temperature")`, false, 0, "*"},
		{"unknown variable", head + `  |> aggregateWindow(every: v.windowPeriodd, fn: mean)`, false, 0, "*"},
		{"empty", head + `  |> filter(fn: (r) => r._field == "no_such_field")`, false, 0, "no rows"},
		{"a table, not a series", head + `  |> filter(fn: (r) => r._field == "temperature") |> group() |> mean()`, false, 0, "_measurement"},
		{"no time for a chart", head + `  |> filter(fn: (r) => r._field == "temperature") |> mean()`, true, 0, "_time"},
		{"a number as a label", head + `  |> filter(fn: (r) => r._measurement == "pi-1") |> map(fn: (r) => ({r with n: 1}))`, false, 0, "label"},
		// pi-2 has no location: the merged table's location is "" there, as Grafana reads it.
		{"a missing tag", head + `  |> filter(fn: (r) => r._field == "temperature") |> group(columns: ["_measurement", "_field"])`, false, 11, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _, err := runPanelQuery(ctx, client.QueryAPI(in.Org).Query, view.interpolate(tt.query, in.Bucket), tt.withTime)
			switch {
			case tt.err == "" && (err != nil || n != tt.rows):
				t.Errorf("= %d rows, %v; want %d rows", n, err, tt.rows)
			case tt.err != "" && (err == nil || tt.err != "*" && !strings.Contains(err.Error(), tt.err)):
				t.Errorf("= %d rows, %v; want an error with %q", n, err, tt.err)
			}
		})
	}
}

package grafana_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/grafana"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// dashboard is what the tests read of a dashboard's JSON.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct{ X, Y, W, H int }
	Targets    []struct {
		RefID      string      `json:"refId"`
		Query      string      `json:"query"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	// Panels are a collapsed row's.
	Panels []panel `json:"panels"`
}

// all is every panel but the rows, with those inside collapsed rows.
func (d dashboard) all() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// checkDashboard returns what is wrong with one dashboard.
func checkDashboard(d dashboard) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.UID == "" || d.Title == "" {
		bad("uid %q, title %q", d.UID, d.Title)
	}
	ids := map[int]bool{}
	for _, p := range d.all() {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			bad("%s: id missing or not unique", name)
		}
		ids[p.ID] = true
		if p.Title == "" {
			bad("%s: no title", name)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			bad("%s: gridPos %+v outside the 24 columns", name, p.GridPos)
		}
		if p.Datasource == nil || p.Datasource.UID != grafana.DatasourceUID || p.Datasource.Type != "influxdb" {
			bad("%s: data source %+v, want the provisioned influxdb %s", name, p.Datasource, grafana.DatasourceUID)
		}
		if len(p.Targets) == 0 {
			bad("%s: no query", name)
		}
		refs := map[string]bool{}
		for _, t := range p.Targets {
			if t.RefID == "" || refs[t.RefID] {
				bad("%s: refId %q missing or not unique", name, t.RefID)
			}
			refs[t.RefID] = true
			if t.Datasource != nil && t.Datasource.UID != grafana.DatasourceUID {
				bad("%s %s: data source %+v", name, t.RefID, t.Datasource)
			}
			q := strings.TrimSpace(t.Query)
			switch {
			case q == "":
				bad("%s %s: empty query", name, t.RefID)
			// The bucket differs per stack: the data source's, never one by name.
			case !strings.HasPrefix(q, "from(bucket: v.defaultBucket)"):
				bad("%s %s: query does not start from(bucket: v.defaultBucket)", name, t.RefID)
			// The time picker must bound what a panel reads.
			case !strings.Contains(q, "range(start: v.timeRangeStart, stop: v.timeRangeStop)"):
				bad("%s %s: query ignores the dashboard's time range", name, t.RefID)
			}
		}
	}
	return errs
}

// The provisioned dashboards parse, have unique uids (the URL output depends on
// smartx-energy) and panel ids, and every panel queries the provisioned data source
// with a Flux query over the dashboard's range and the data source's bucket.
func TestDashboards(t *testing.T) {
	boards, err := grafana.Dashboards()
	if err != nil || len(boards) == 0 {
		t.Fatalf("dashboards: %v (%d)", err, len(boards))
	}
	uids := map[string]string{}
	for name, body := range boards {
		var d dashboard
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if other, ok := uids[d.UID]; ok {
			t.Errorf("%s and %s share the uid %q", name, other, d.UID)
		}
		uids[d.UID] = name
		if len(d.all()) == 0 {
			t.Errorf("%s: no panels", name)
		}
		for _, e := range checkDashboard(d) {
			t.Errorf("%s: %s", name, e)
		}
		if strings.Contains(strings.ToLower(body), "token") {
			t.Errorf("%s mentions a token", name)
		}
	}
	for _, uid := range []string{"smartx-energy", "smartx-pipeline"} {
		if _, ok := uids[uid]; !ok {
			t.Errorf("no dashboard with uid %s", uid)
		}
	}
}

// The checks catch what they are for.
func TestCheckDashboard(t *testing.T) {
	good := func() dashboard {
		var d dashboard
		if err := json.Unmarshal([]byte(`{"uid": "u", "title": "T", "panels": [{"id": 1, "type": "stat", "title": "P",
			"gridPos": {"x": 0, "y": 0, "w": 24, "h": 4}, "datasource": {"type": "influxdb", "uid": "smartx-influxdb"},
			"targets": [{"refId": "A", "query": "from(bucket: v.defaultBucket)\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)"}]}]}`), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if errs := checkDashboard(good()); len(errs) != 0 {
		t.Fatalf("a good dashboard: %v", errs)
	}
	tests := map[string]func(*dashboard){
		"data source":    func(d *dashboard) { d.Panels[0].Datasource.UID = "other" },
		"no data source": func(d *dashboard) { d.Panels[0].Datasource = nil },
		"duplicate id":   func(d *dashboard) { d.Panels = append(d.Panels, d.Panels[0]) },
		"no query":       func(d *dashboard) { d.Panels[0].Targets = nil },
		"empty query":    func(d *dashboard) { d.Panels[0].Targets[0].Query = " " },
		"named bucket":   func(d *dashboard) { d.Panels[0].Targets[0].Query = `from(bucket: "Sensordata") |> range(start: -1h)` },
		"fixed range": func(d *dashboard) {
			d.Panels[0].Targets[0].Query = "from(bucket: v.defaultBucket) |> range(start: -1h)"
		},
		"refId twice":     func(d *dashboard) { d.Panels[0].Targets = append(d.Panels[0].Targets, d.Panels[0].Targets[0]) },
		"too wide":        func(d *dashboard) { d.Panels[0].GridPos.X = 1 },
		"no uid":          func(d *dashboard) { d.UID = "" },
		"row hides panel": func(d *dashboard) { d.Panels = []panel{{Type: "row", Panels: []panel{{ID: 2, Title: "x"}}}} },
	}
	for name, change := range tests {
		d := good()
		d.Panels[0].Targets = slices.Clone(d.Panels[0].Targets)
		change(&d)
		if errs := checkDashboard(d); len(errs) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

// The data source is provisioned under the uid the panels name, as Flux with the
// stack's bucket, and every dashboard is mounted where the provider reads them.
func TestProvisioning(t *testing.T) {
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := grafana.New(ctx, "grafana", &grafana.Args{
			Base:      workload.Base{Namespace: "smartx"},
			InfluxURL: "http://influxdb:8086", InfluxOrg: "smartx", InfluxBucket: "Sensordata",
			InfluxTokenSecret: "influxdb-client", AdminPassword: pulumi.ToSecret(pulumi.String("pw")).(pulumi.StringOutput),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, mf := range ms {
		if mf.Kind != "ConfigMap" {
			continue
		}
		data, _ := mf.Object["data"].(map[string]any)
		for _, v := range data {
			if s, ok := v.(string); ok {
				files = append(files, s)
			}
		}
	}
	var sources int
	for _, f := range files {
		var ds struct {
			Datasources []struct {
				UID, Type string
				JSONData  struct {
					Version       string `yaml:"version"`
					DefaultBucket string `yaml:"defaultBucket"`
				} `yaml:"jsonData"`
			}
		}
		if !strings.Contains(f, "datasources:") || yaml.Unmarshal([]byte(f), &ds) != nil {
			continue
		}
		for _, s := range ds.Datasources {
			sources++
			if s.UID != grafana.DatasourceUID || s.Type != "influxdb" || s.JSONData.Version != "Flux" || s.JSONData.DefaultBucket != "Sensordata" {
				t.Errorf("data source %+v, want influxdb %s, Flux, bucket Sensordata", s, grafana.DatasourceUID)
			}
		}
	}
	if sources != 1 {
		t.Errorf("%d data sources provisioned, want 1", sources)
	}
	boards, err := grafana.Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range boards {
		if !slices.Contains(files, body) {
			t.Errorf("dashboard %s is not in a ConfigMap", name)
		}
	}
}

package grafana_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/smartx-team/overcloud/components/grafana"
)

// The provisioned dashboards are valid, carry a stable uid (the dashboard URL output
// depends on smartx-energy) and query the provisioned data source.
func TestDashboards(t *testing.T) {
	boards, err := grafana.Dashboards()
	if err != nil || len(boards) == 0 {
		t.Fatalf("dashboards: %v (%d)", err, len(boards))
	}
	uids := map[string]bool{}
	for name, body := range boards {
		var d struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Datasource struct{ UID string } `json:"datasource"`
			} `json:"panels"`
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q title %q, %d panels", name, d.UID, d.Title, len(d.Panels))
		}
		uids[d.UID] = true
		for i, p := range d.Panels {
			if p.Datasource.UID != "smartx-influxdb" {
				t.Errorf("%s panel %d: data source %q", name, i, p.Datasource.UID)
			}
		}
		if strings.Contains(body, "token") {
			t.Errorf("%s mentions a token", name)
		}
	}
	if !uids["smartx-energy"] {
		t.Error("no dashboard with uid smartx-energy")
	}
}

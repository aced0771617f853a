package localrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/smartx-team/overcloud/functions/dashboard/auth"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// DashboardPackage is the operators' dashboard.
const DashboardPackage = "github.com/smartx-team/overcloud/functions/dashboard"

// Dashboard is the operators' dashboard running on a Path.
type Dashboard struct {
	Proc *servers.Proc
	// URL is the web page; User and Password log in to it.
	URL, User, Password string
	// Admin is its admin base (/healthz, /readyz, /metrics).
	Admin string
}

// StartDashboard starts the dashboard on the path's InfluxDB and the hub's and the
// sender's metrics, calling the controller at controllerURL (which may come later:
// until it answers, the panel says so). One user, user, logs in with a new random
// password; only its bcrypt hash is written, to <dir>/dashboard-users.
func (p *Path) StartDashboard(ctx context.Context, controllerURL, user string, env ...string) (*Dashboard, error) {
	if p.logs["dashboard"] == nil {
		f, err := os.Create(p.LogPath("dashboard"))
		if err != nil {
			return nil, err
		}
		p.logs["dashboard"] = f
	}
	password := auth.Token()[:16]
	line, err := auth.Line(user, password)
	if err != nil {
		return nil, err
	}
	users := filepath.Join(p.dir, "dashboard-users")
	if err := os.WriteFile(users, []byte(line+"\n"), 0o600); err != nil {
		return nil, err
	}
	d := &Dashboard{User: user, Password: password}
	port, admin, err := p.function(ctx, "dashboard", DashboardPackage, "DASHBOARD", true, append([]string{
		"DASHBOARD_USERS_FILE=" + users,
		"DASHBOARD_INFLUX_URL=" + p.Influx.URL, "DASHBOARD_INFLUX_TOKEN=" + p.Influx.Token,
		"DASHBOARD_INFLUX_ORG=" + p.Influx.Org, "DASHBOARD_INFLUX_BUCKET=" + p.Influx.Bucket,
		"DASHBOARD_CONTROLLER_URL=" + controllerURL,
		"DASHBOARD_HUB_METRICS_URL=" + p.HubAdmin + "/metrics", "DASHBOARD_SENDER_METRICS_URL=" + p.SenderAdmin + "/metrics",
		// The demo's rooms run fast: a Pi silent for 30 s is stale, and the figures
		// follow every few seconds.
		"DASHBOARD_STALE=30s", "DASHBOARD_REFRESH=2s", "DASHBOARD_METRICS_EVERY=2s",
	}, env...), &d.Proc)
	if err != nil {
		return nil, err
	}
	d.URL, d.Admin = fmt.Sprintf("http://127.0.0.1:%d", port), admin
	return d, nil
}

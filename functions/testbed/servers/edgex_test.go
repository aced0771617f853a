package servers_test

import (
	"net/http"
	"testing"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// TestEdgeX starts EdgeX 4.0.2's core services on their PostgreSQL and broker: each
// answers its ping.
func TestEdgeX(t *testing.T) {
	t.Parallel()
	e, _ := servertest.EdgeX(t, servers.EdgeXOptions{QoS: 1})
	for _, u := range []string{e.MetadataURL, e.DataURL, e.CommandURL} {
		resp, err := http.Get(u + "/api/v3/ping")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s ping: HTTP %d", u, resp.StatusCode)
		}
	}
}

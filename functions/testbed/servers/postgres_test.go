package servers_test

import (
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// TestPostgres starts a cluster, creates a database (twice: the second is no error),
// and restarts it on the same port.
func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := servertest.Postgres(t, "postgres", "s3cret-pg")
	ctx := ctxFor(t, time.Minute)
	for range 2 {
		if err := pg.CreateDatabase(ctx, "edgex_db"); err != nil {
			t.Fatal(err)
		}
	}
	restart(t, pg.Proc)
	if err := pg.CreateDatabase(ctx, "edgex_db"); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	stop(t, pg.Proc)
}

package outbox

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// writeCommands records the write commands the driver sends to one database, with
// the write concern each carries, as MongoDB would receive them.
type writeCommands struct {
	db string
	mu sync.Mutex
	// seen holds "command collection: writeConcern".
	seen []string
}

func (w *writeCommands) started(_ context.Context, e *event.CommandStartedEvent) {
	if e.DatabaseName != w.db {
		return
	}
	switch e.CommandName {
	case "insert", "update", "delete", "findAndModify":
	default:
		return
	}
	coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
	wc := "none"
	if v, err := e.Command.LookupErr("writeConcern"); err == nil {
		wc = v.String()
	}
	w.mu.Lock()
	w.seen = append(w.seen, fmt.Sprintf("%s %s: %s", e.CommandName, coll, wc))
	w.mu.Unlock()
}

func (w *writeCommands) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// Every write of the outbox (chunk inserts, sequence numbers, relay progress, segment
// bookkeeping) asks MongoDB to acknowledge only once journaled, and a majority of a
// replica set when told so. FerretDB cannot show journaling, so this checks what is
// sent, by the driver's command monitoring.
func TestWriteConcernOnEveryWrite(t *testing.T) {
	m := servertest.Mongo(t)
	for _, tt := range []struct {
		name       string
		replicaSet bool
		want       string
	}{
		{"single server", false, `{"w": {"$numberInt":"1"},"j": true}`},
		{"replica set", true, `{"w": "majority","j": true}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmds := &writeCommands{db: "wc_" + map[bool]string{false: "single", true: "rs"}[tt.replicaSet]}
			client, err := mongo.Connect(options.Client().ApplyURI(m.URI).
				SetMonitor(&event.CommandMonitor{Started: cmds.started}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
			// A caller's database-level setting must not weaken the outbox's.
			db := client.Database(cmds.db, options.Database().SetWriteConcern(writeconcern.Unacknowledged()))
			ob := open(t, db, Options{WriteConcern: Durable(tt.replicaSet), Retention: -1, SegmentMaxAge: time.Millisecond})
			store(t, ob, mkReading("dev-a", 1), mkReading("dev-a", 2))
			ctx := context.Background()
			if _, err := ob.NextSeq(ctx, "dev-a", 3); err != nil {
				t.Fatal(err)
			}
			drain(t, ob.Outbox, 100)
			time.Sleep(5 * time.Millisecond) // past SegmentMaxAge: the next store seals a segment
			store(t, ob, mkReading("dev-b", 1))
			drain(t, ob.Outbox, 100)
			if _, err := ob.Purge(ctx); err != nil {
				t.Fatal(err)
			}

			seen := cmds.list()
			kinds := map[string]bool{}
			for _, s := range seen {
				var cmd, coll string
				fmt.Sscanf(s, "%s %s", &cmd, &coll)
				kinds[cmd] = true
				if got := s[len(cmd)+len(coll)+2:]; got != tt.want {
					t.Errorf("%s carries write concern %s, want %s", s[:len(cmd)+len(coll)+1], got, tt.want)
				}
			}
			for _, k := range []string{"insert", "update", "findAndModify"} {
				if !kinds[k] {
					t.Errorf("no %s command seen among %q: the test does not cover every write", k, seen)
				}
			}
			if n, err := db.Collection(stateColl).CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
				t.Errorf("relay state documents = %d, %v; want 1 (the writes landed)", n, err)
			}
		})
	}
	if _, err := Open(context.Background(), Options{Database: &mongo.Database{}, WriteConcern: writeconcern.W1()}); err == nil {
		t.Error("Open took a write concern without the journal")
	}
}

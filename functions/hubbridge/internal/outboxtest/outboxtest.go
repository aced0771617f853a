// Package outboxtest gives the hub's tests an outbox in a real FerretDB with its
// writer running, as the hub runs it.
package outboxtest

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/smartx-team/overcloud/functions/hubbridge/outbox"
)

// Open opens an outbox in db and runs its writer until stop is called; stop waits
// for the writer to end. The caller calls stop (or registers it with t.Cleanup).
func Open(t testing.TB, db *mongo.Database) (ob *outbox.Outbox, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ob, err := outbox.Open(ctx, outbox.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(runCtx) }()
	return ob, func() { stopRun(); <-done }
}

// Running is Open with the writer stopped when the test ends.
func Running(t testing.TB, db *mongo.Database) *outbox.Outbox {
	t.Helper()
	ob, stop := Open(t, db)
	t.Cleanup(stop)
	return ob
}

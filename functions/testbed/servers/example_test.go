package servers_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// A server stopped for a while comes back on the same port with its data.
func ExampleNewMongo() {
	dir, err := os.MkdirTemp("", "mongo")
	if err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	m, err := servers.NewMongo(dir, os.Stderr)
	if err != nil {
		panic(err) // ferretdb not installed: run "make tools"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		panic(err)
	}
	fmt.Println("mongo at", m.URI)
	_ = m.Stop() // take it away, e.g. for 30 s
	if err := m.Start(ctx); err != nil {
		panic(err)
	}
	_ = m.Stop()
}

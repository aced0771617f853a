package servers

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Mongo is a MongoDB wire-protocol server: FerretDB with its SQLite backend, its
// databases in Dir/sqlite so they survive Stop and Start.
type Mongo struct {
	*Proc
	// URI is the connection string, "mongodb://127.0.0.1:port/".
	URI string
	// Dir holds FerretDB's state and databases.
	Dir string
}

// NewMongo returns a stopped FerretDB on a free port with its data in dir (created if
// needed); log receives its log (nil discards it). It fails if ferretdb is not
// installed (see Tool).
func NewMongo(dir string, log io.Writer) (*Mongo, error) {
	bin, err := Tool("ferretdb")
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	data := filepath.Join(dir, "sqlite")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	m := &Mongo{URI: "mongodb://127.0.0.1:" + strconv.Itoa(port) + "/", Dir: dir}
	argv := []string{bin,
		"--listen-addr=127.0.0.1:" + strconv.Itoa(port),
		"--handler=sqlite",
		"--sqlite-url=file:" + data + "/",
		"--state-dir=" + dir,
		// The debug (metrics, pprof) listener defaults to 127.0.0.1:8088, which
		// clashes with other servers and with a second FerretDB: we do not need it.
		"--debug-addr=-",
		"--telemetry=disable",
		"--log-level=INFO",
		"--log-format=text",
	}
	// FerretDB reads FERRETDB_* variables; set the ones that matter so a developer's
	// environment cannot point the test server elsewhere.
	env := []string{"FERRETDB_TELEMETRY=disable"}
	m.Proc = NewProc("mongo", argv, env, m.ready, log)
	return m, nil
}

// ready runs the ping command through the MongoDB driver.
func (m *Mongo) ready(ctx context.Context) error {
	c, err := mongo.Connect(options.Client().ApplyURI(m.URI).SetDirect(true))
	if err != nil {
		return err
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	if err := c.Ping(ctx, nil); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

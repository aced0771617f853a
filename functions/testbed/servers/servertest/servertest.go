// Package servertest starts the real servers of package servers for a test, and has
// the two helpers tests around them share (WaitFor, Metric). Each server runs in
// its own t.TempDir(), logging to <name>.log in another t.TempDir(), stopped by
// t.Cleanup. A missing tool fails the test (it does not skip it) with the install hint,
// so CI cannot pass without the servers. On failure the server's last log lines are
// printed with the test's output.
package servertest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// ReadyTimeout bounds each start: generous, since FerretDB and InfluxDB cold-start
// slowly on a loaded two-core machine.
const ReadyTimeout = 60 * time.Second

// Kafka starts a one-broker Kafka cluster with topics created (one partition each).
func Kafka(t testing.TB, topics ...string) *servers.Kafka {
	t.Helper()
	return KafkaWith(t, servers.KafkaOptions{Topics: topics})
}

// KafkaWith starts a Kafka cluster with o; o.Log, if set, receives the log as well as
// the log file.
func KafkaWith(t testing.TB, o servers.KafkaOptions) *servers.Kafka {
	t.Helper()
	extra := o.Log
	return startNew(t, "kafka", extra, func(dir string, log *logWriter) (*servers.Kafka, *servers.Proc, error) {
		o.Log = log
		k, err := servers.NewKafka(dir, o)
		if err != nil {
			return nil, nil, err
		}
		return k, k.Proc, nil
	})
}

// Mongo starts FerretDB (MongoDB wire protocol).
func Mongo(t testing.TB) *servers.Mongo {
	t.Helper()
	return startNew(t, "mongo", nil, func(dir string, log *logWriter) (*servers.Mongo, *servers.Proc, error) {
		m, err := servers.NewMongo(dir, log)
		if err != nil {
			return nil, nil, err
		}
		return m, m.Proc, nil
	})
}

// MongoClient starts FerretDB and connects a MongoDB client to it, disconnected when
// the test ends.
func MongoClient(t testing.TB) *mongo.Client {
	t.Helper()
	m := Mongo(t)
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

// Influx starts InfluxDB 1.8 with the bucket servers.InfluxBucket created.
func Influx(t testing.TB) *servers.Influx {
	t.Helper()
	return startNew(t, "influx", nil, func(dir string, log *logWriter) (*servers.Influx, *servers.Proc, error) {
		in, err := servers.NewInflux(dir, log)
		if err != nil {
			return nil, nil, err
		}
		return in, in.Proc, nil
	})
}

// MQTT starts a mosquitto broker.
func MQTT(t testing.TB) *servers.MQTT { return MQTTWith(t, "") }

// MQTTWith starts a mosquitto broker with the extra configuration lines.
func MQTTWith(t testing.TB, extra string) *servers.MQTT {
	t.Helper()
	return startNew(t, "mqtt", nil, func(dir string, log *logWriter) (*servers.MQTT, *servers.Proc, error) {
		m, err := servers.NewMQTT(dir, extra, log)
		if err != nil {
			return nil, nil, err
		}
		return m, m.Proc, nil
	})
}

// Postgres starts a PostgreSQL cluster of its own with superuser user and password.
func Postgres(t testing.TB, user, password string) *servers.Postgres {
	t.Helper()
	return startNew(t, "postgres", nil, func(dir string, log *logWriter) (*servers.Postgres, *servers.Proc, error) {
		pg, err := servers.NewPostgres(dir, user, password, log)
		if err != nil {
			return nil, nil, err
		}
		return pg, pg.Proc, nil
	})
}

// EdgeX starts EdgeX 4's core services on a PostgreSQL (with o's database user) and
// a mosquitto of their own and returns them with the broker (EdgeX's message bus).
func EdgeX(t testing.TB, o servers.EdgeXOptions) (*servers.EdgeX, *servers.MQTT) {
	t.Helper()
	user, password := o.DBUser, o.DBPassword
	if user == "" {
		user, password = servers.EdgeXDBUser, servers.EdgeXDBPassword
	}
	pg := Postgres(t, user, password)
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if err := pg.CreateDatabase(ctx, servers.EdgeXDatabase); err != nil {
		t.Fatal(err)
	}
	bus := MQTTWith(t, o.BrokerConfig)
	log := logFile(t, "edgex", nil)
	port, _ := strconv.Atoi(bus.Addr[strings.LastIndex(bus.Addr, ":")+1:])
	e, err := servers.NewEdgeX(t.TempDir(), pg, "127.0.0.1", port, o, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Procs() {
		start(t, p, log)
	}
	return e, bus
}

// Pi builds the firmware and runs it as a simulated Pi (see localrun.NewPi) with its
// queue in a t.TempDir(); it is stopped when the test ends, and its log shown if the
// test failed. It returns the process, the queue's folder and the command endpoint.
func Pi(t testing.TB, pi localrun.Pi) (p *servers.Proc, dir, commandURL string) {
	t.Helper()
	dir = t.TempDir()
	log := logFile(t, pi.Device, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*ReadyTimeout)
	defer cancel()
	p, commandURL, err := localrun.NewPi(ctx, dir, pi, log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, p, log)
	return p, dir, commandURL
}

// Start starts p again (after a test stopped it) within ReadyTimeout, failing the test
// if it does not come up.
func Start(t testing.TB, p *servers.Proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// logWriter is the log file of one server, with the extra writer the caller gave.
type logWriter struct {
	f     *os.File
	extra io.Writer
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.extra != nil {
		_, _ = w.extra.Write(b)
	}
	return w.f.Write(b)
}

// logFile creates <TempDir>/<name>.log; the file is closed by a cleanup registered
// now, so it runs after the server's (cleanups run last in, first out).
func logFile(t testing.TB, name string, extra io.Writer) *logWriter {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &logWriter{f: f, extra: extra}
}

// portAttempts is how often a server is built and started, each time on new free
// ports, when it found one of its ports taken: the tests of several packages start
// servers at once, and a port that was free when asked may be bound by another
// process before this one binds it.
const portAttempts = 3

// startNew builds a server in a fresh t.TempDir() with a fresh log and starts it as
// start does, building it again on new ports when its start failed on a port taken
// meanwhile ("address already in use" in its log); any other failure fails t.
func startNew[S any](t testing.TB, name string, extra io.Writer, build func(dir string, log *logWriter) (S, *servers.Proc, error)) S {
	t.Helper()
	for attempt := 1; ; attempt++ {
		log := logFile(t, name, extra)
		srv, p, err := build(t.TempDir(), log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
		err = p.Start(ctx)
		cancel()
		if err == nil {
			stopAtCleanup(t, p, log)
			return srv
		}
		if attempt == portAttempts || !strings.Contains(strings.ToLower(p.Tail()), "address already in use") {
			t.Fatalf("%v\n%s log (%s), last lines:\n%s", err, name, log.f.Name(), p.Tail())
		}
		t.Logf("%s: a port it was given was taken before it bound it; starting it again on new ports", name)
	}
}

// start starts p and registers its stop; on failure the last log lines are shown.
func start(t testing.TB, p *servers.Proc, log *logWriter) {
	t.Helper()
	stopAtCleanup(t, p, log)
	Start(t, p)
}

// stopAtCleanup stops p when the test ends, showing its last log lines if it failed.
func stopAtCleanup(t testing.TB, p *servers.Proc, log *logWriter) {
	t.Helper()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop %s: %v", p.Name(), err)
		}
		if t.Failed() {
			t.Logf("%s log (%s), last lines:\n%s", p.Name(), log.f.Name(), p.Tail())
		}
	})
}

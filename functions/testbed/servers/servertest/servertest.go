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
	log := logFile(t, "kafka", o.Log)
	o.Log = log
	k, err := servers.NewKafka(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	start(t, k.Proc, log)
	return k
}

// Mongo starts FerretDB (MongoDB wire protocol).
func Mongo(t testing.TB) *servers.Mongo {
	t.Helper()
	log := logFile(t, "mongo", nil)
	m, err := servers.NewMongo(t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, m.Proc, log)
	return m
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
	log := logFile(t, "influx", nil)
	in, err := servers.NewInflux(t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, in.Proc, log)
	return in
}

// MQTT starts a mosquitto broker.
func MQTT(t testing.TB) *servers.MQTT { return MQTTWith(t, "") }

// MQTTWith starts a mosquitto broker with the extra configuration lines.
func MQTTWith(t testing.TB, extra string) *servers.MQTT {
	t.Helper()
	log := logFile(t, "mqtt", nil)
	m, err := servers.NewMQTT(t.TempDir(), extra, log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, m.Proc, log)
	return m
}

// Postgres starts a PostgreSQL cluster of its own with superuser user and password.
func Postgres(t testing.TB, user, password string) *servers.Postgres {
	t.Helper()
	log := logFile(t, "postgres", nil)
	pg, err := servers.NewPostgres(t.TempDir(), user, password, log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, pg.Proc, log)
	return pg
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

// start starts p and registers its stop; on failure the last log lines are shown.
func start(t testing.TB, p *servers.Proc, log *logWriter) {
	t.Helper()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop %s: %v", p.Name(), err)
		}
		if t.Failed() {
			t.Logf("%s log (%s), last lines:\n%s", p.Name(), log.f.Name(), p.Tail())
		}
	})
	Start(t, p)
}

package wiring

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
	"github.com/smartx-team/overcloud/functions/sender/internal/sendertest"
)

const base = int64(1_763_700_000_000_000_000)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testServers are the real Kafka and InfluxDB of one test.
type testServers struct {
	kafka  *servers.Kafka
	influx *servers.Influx
}

func startServers(t testing.TB, partitions int) testServers {
	t.Helper()
	return testServers{
		kafka:  servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{sendertest.Topic, sendertest.DeadTopic}, Partitions: partitions}),
		influx: servertest.Influx(t),
	}
}

// args are the flags that point the sender at the servers, on a free admin port.
func (s testServers) args(t testing.TB) ([]string, string) {
	t.Helper()
	port, err := servers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	return []string{
		"--kafka-brokers", s.kafka.Addr, "--influx-url", s.influx.URL, "--influx-token", s.influx.Token,
		"--influx-org", s.influx.Org, "--influx-bucket", s.influx.Bucket, "--admin-listen", admin,
	}, "http://" + admin
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// The whole sender in-process through Main, as the binary runs: one JSON start line,
// ready once in its group and InfluxDB answers, readings stored, the metrics served,
// and a rejected OpenWeatherMap key never in the log, even though every weather
// request fails with it (the URL carries it).
func TestMainInProcess(t *testing.T) {
	t.Parallel()
	srv := startServers(t, 2)
	owm := sendertest.NewOWM(t, "the-right-key")
	const wrongKey = "wrong-key-7c41e9"
	keyFile := filepath.Join(t.TempDir(), "owm-key")
	if err := os.WriteFile(keyFile, []byte(wrongKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args, admin := srv.args(t)
	args = append(args, "--owm-api-key-file", keyFile, "--owm-url", owm.URL, "--weather-ttl", "2s", "--batch-size", "300")
	logFile, err := os.Create(filepath.Join(t.TempDir(), "sender.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	ctx, cancel := context.WithCancel(context.Background())
	code, stopped := -1, make(chan struct{})
	go func() { code = Main(ctx, args, logFile); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	sendertest.WaitFor(t, "/readyz", func() (bool, string) {
		code, body, err := httpGet(admin + "/readyz")
		return code == http.StatusOK, fmt.Sprint(code, body, err)
	})

	rs := sendertest.Readings(1500, 6, base)
	sendertest.Produce(t, srv.kafka.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	sendertest.WaitFor(t, "every reading committed", func() (bool, string) {
		n := sendertest.Committed(t, srv.kafka.Addr, "smartx-sender", sendertest.Topic, 2)
		return n == int64(len(rs)), fmt.Sprint(n, " committed")
	})
	sendertest.CheckStored(t, srv.influx, rs, "Gwangju")
	if owm.Calls() == 0 {
		t.Fatal("the sender never asked for the weather")
	}

	_, metrics, err := httpGet(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"sender_consumed_total", "sender_written_total", `sender_dead_lettered_total{reason="malformed"}`,
		"sender_write_errors_total", "sender_batch_size_bucket", "sender_write_seconds_bucket",
		`sender_origin_to_stored_seconds_bucket{le="0.001"}`, `sender_origin_to_stored_seconds_bucket{le="60"}`,
		`sender_weather_fetches_total{provider="owm",result="error"}`, "go_goroutines",
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	cancel()
	<-stopped
	if code != 0 {
		t.Errorf("Main after cancel = %d, want 0", code)
	}
	logs, err := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logs), wrongKey) {
		t.Fatalf("the log shows the API key:\n%s", logs)
	}
	if !strings.Contains(string(logs), "weather request failed") || !strings.Contains(string(logs), "Invalid API key") {
		t.Errorf("the log does not report the failing weather requests:\n%.2000s", logs)
	}
	first, _, _ := bufio.NewReader(strings.NewReader(string(logs))).ReadLine()
	var start struct {
		Msg       string `json:"msg"`
		Component string `json:"component"`
		Config    struct {
			WeatherProvider string `json:"weather_provider"`
			KafkaTopic      string `json:"kafka_topic"`
		} `json:"config"`
	}
	if err := json.Unmarshal(first, &start); err != nil || start.Msg != "sender starting" || start.Component != "sender" ||
		start.Config.WeatherProvider != "owm" || start.Config.KafkaTopic != "readings" {
		t.Errorf("first log line %s (%v), want the JSON start line with the settings", first, err)
	}
}

func TestMainBadConfig(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--batch-size", "0"}, "SENDER_BATCH_SIZE"},
		{[]string{"--weather-provider", "owm"}, "SENDER_OWM_API_KEY"},
		{[]string{"--batch-size", "many"}, "batch-size"},
		{[]string{"--owm-api-key-file", "/nonexistent/key", "--admin-listen", "127.0.0.1:0"}, "SENDER_OWM_API_KEY_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if code := Main(context.Background(), tt.args, f); code != 2 {
				t.Errorf("Main(%v) = %d, want 2", tt.args, code)
			}
			out, _ := os.ReadFile(f.Name())
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("stderr %q does not name %s", out, tt.want)
			}
		})
	}
}

// BenchmarkSender measures the sender alone, in-process against the real servers:
// b.N readings are put on Kafka first; the time from the sender joining its group to
// its last commit gives readings/s. Each round starts fresh servers, so give a count:
//
//	go test -run '^$' -bench Sender -benchtime 200000x ./functions/sender/wiring/
func BenchmarkSender(b *testing.B) {
	srv := startServers(b, 6)
	rs := sendertest.Readings(b.N, 100, base)
	sendertest.Produce(b, srv.kafka.Addr, sendertest.Topic, sendertest.Messages(b, rs)...)
	cfg := Defaults()
	cfg.KafkaBrokers, cfg.InfluxURL, cfg.InfluxToken = srv.kafka.Addr, srv.influx.URL, srv.influx.Token
	cfg.InfluxOrg, cfg.InfluxBucket, cfg.WeatherProvider = srv.influx.Org, srv.influx.Bucket, ProviderNone

	s, err := New(cfg, discard(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Joining the group takes a few seconds that are no part of the throughput.
	sendertest.WaitFor(b, "the sender to be ready", func() (bool, string) {
		err := s.Ready(ctx)
		return err == nil, fmt.Sprint(err)
	})
	b.ResetTimer()
	start := time.Now()
	sendertest.WaitFor(b, "every reading committed", func() (bool, string) {
		n := sendertest.Committed(b, srv.kafka.Addr, cfg.KafkaGroup, cfg.KafkaTopic, 6)
		return n == int64(len(rs)), fmt.Sprint(n, " committed")
	})
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(rs))/elapsed.Seconds(), "readings/s")
}

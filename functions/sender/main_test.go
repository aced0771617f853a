package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/internal/sendertest"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const pkg = "github.com/smartx-team/overcloud/functions/sender"

func build(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := servers.BuildGo(ctx, pkg)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// metric reads one figure from the admin's /metrics.
func metric(admin, name string) (float64, error) {
	fams, err := promscrape.Scrape(context.Background(), admin)
	if err != nil {
		return 0, err
	}
	v, ok := fams.Value(name)
	if !ok {
		return 0, fmt.Errorf("no %s in /metrics", name)
	}
	return v, nil
}

// The sender as its own process is SIGKILLed while it works through a large backlog,
// in the middle of a batch, then started again: every reading ends up in InfluxDB
// exactly once, and the key never shows in its log.
func TestKilledMidBatchStoresEverythingOnce(t *testing.T) {
	t.Parallel()
	bin := build(t)
	const partitions = 4
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{sendertest.Topic, sendertest.DeadTopic}, Partitions: partitions})
	in := servertest.Influx(t)
	const key = "process-test-key-31f0"
	owm := sendertest.NewOWM(t, key)
	rs := sendertest.Readings(60000, 50, 1_763_700_000_000_000_000)
	sendertest.Produce(t, k.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)

	p := startSenderProc(t, bin, k, in, "SENDER_BATCH_SIZE=10000", "SENDER_OWM_URL="+owm.URL, "SENDER_OWM_API_KEY="+key)
	admin := p.admin
	p.start(t)
	// Kill it once it has stored a batch and is busy with the next ones.
	sendertest.WaitFor(t, "a first batch stored", func() (bool, string) {
		n, err := metric(admin, "sender_written_total")
		return n > 0, fmt.Sprint(n, err)
	})
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	committed := sendertest.Committed(t, k.Addr, "smartx-sender", sendertest.Topic, partitions)
	if committed >= int64(len(rs)) {
		t.Fatalf("everything (%d) was committed before the kill; make the backlog larger", committed)
	}
	t.Logf("killed with %d of %d committed", committed, len(rs))

	p.start(t)
	sendertest.WaitFor(t, "every reading committed after the restart", func() (bool, string) {
		n := sendertest.Committed(t, k.Addr, "smartx-sender", sendertest.Topic, partitions)
		return n == int64(len(rs)), fmt.Sprint(n, " committed")
	})
	points := sendertest.CheckStored(t, in, rs, "Gwangju")
	for _, pt := range points {
		if pt.Fields["ext_temperature"] != sendertest.OWMTempC {
			t.Fatalf("point %+v lacks the weather", pt)
		}
	}
	if err := p.Stop(); err != nil {
		t.Errorf("SIGTERM stop: %v", err)
	}
	if strings.Contains(p.logs.String(), key) {
		t.Errorf("the log shows the API key")
	}
	checkStartLine(t, p.logs.String())
}

// The sender as its own process gets SIGTERM while it works through a large backlog:
// it finishes the batch in hand, writes and commits it, and exits with status 0. What it committed
// is exactly what it stored (by point identity), and a restart stores the rest with
// nothing lost and nothing stored twice.
func TestSIGTERMMidBatchCommitsWhatItStored(t *testing.T) {
	t.Parallel()
	bin := build(t)
	const partitions = 4
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{sendertest.Topic, sendertest.DeadTopic}, Partitions: partitions})
	in := servertest.Influx(t)
	rs := sendertest.Readings(60000, 50, 1_763_700_000_000_000_000)
	sendertest.Produce(t, k.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	p := startSenderProc(t, bin, k, in, "SENDER_BATCH_SIZE=5000", "SENDER_WEATHER_PROVIDER=none")
	admin := p.admin
	p.start(t)
	sendertest.WaitFor(t, "a first batch stored", func() (bool, string) {
		n, err := metric(admin, "sender_written_total")
		return n > 0, fmt.Sprint(n, err)
	})
	if err := p.Stop(); err != nil { // SIGTERM, then wait for the exit
		t.Fatalf("stop: %v", err)
	}
	if err := p.ExitErr(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	committed := committedReadings(t, k.Addr, partitions)
	if len(committed) == 0 || len(committed) >= len(rs) {
		t.Fatalf("%d of %d readings committed at SIGTERM; want some, not all", len(committed), len(rs))
	}
	t.Logf("stopped with %d of %d readings committed", len(committed), len(rs))
	var wantAtStop []reading.Reading
	for _, r := range rs {
		if committed[r.ID] {
			wantAtStop = append(wantAtStop, r)
		}
	}
	// Points merge a device's readings of one origin; a batch may end between two of
	// them, so compare point identities, not fields.
	type pointKey struct {
		device string
		origin int64
	}
	wantKeys := map[pointKey]bool{}
	for _, r := range wantAtStop {
		wantKeys[pointKey{r.Device, r.Origin}] = true
	}
	gotKeys := map[pointKey]bool{}
	for _, pt := range sendertest.Stored(t, in) {
		gotKeys[pointKey{pt.Measurement, pt.Time}] = true
	}
	if len(gotKeys) != len(wantKeys) {
		t.Errorf("at SIGTERM InfluxDB holds %d points, the committed readings make %d: written and committed differ", len(gotKeys), len(wantKeys))
	}
	for k := range wantKeys {
		if !gotKeys[k] {
			t.Fatalf("committed reading of %s at %d is not stored", k.device, k.origin)
		}
	}

	p.start(t)
	sendertest.WaitFor(t, "every reading committed after the restart", func() (bool, string) {
		n := sendertest.Committed(t, k.Addr, "smartx-sender", sendertest.Topic, partitions)
		return n == int64(len(rs)), fmt.Sprint(n, " committed")
	})
	sendertest.CheckStored(t, in, rs, "Gwangju")
}

// committedReadings returns the ids of the readings below the group's committed offset
// on each partition.
func committedReadings(t *testing.T, addr string, partitions int) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sendertest.Wait)
	defer cancel()
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "smartx-sender", Topics: map[string][]int{sendertest.Topic: ids}})
	if err != nil || resp.Error != nil {
		t.Fatalf("offset fetch: %v %v", err, resp.Error)
	}
	upTo := map[int]int64{}
	total := int64(0)
	for _, p := range resp.Topics[sendertest.Topic] {
		upTo[p.Partition] = max(p.CommittedOffset, 0)
		total += upTo[p.Partition]
	}
	out := map[string]bool{}
	for _, m := range sendertest.ReadTopic(t, addr, sendertest.Topic, 60000) {
		if m.Offset < upTo[m.Partition] {
			r, err := reading.Decode(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			out[r.ID] = true
		}
	}
	if int64(len(out)) != total {
		t.Fatalf("%d readings below committed offsets summing to %d", len(out), total)
	}
	return out
}

// senderProc is the sender binary as its own process, pointed at the servers on a
// free admin port, ready once its /readyz answers 200; it is stopped when the test ends
// and its log shown if the test failed.
type senderProc struct {
	*servers.Proc
	admin string
	logs  *sendertest.LogBuffer
}

func startSenderProc(t *testing.T, bin string, k *servers.Kafka, in *servers.Influx, env ...string) *senderProc {
	t.Helper()
	port, err := servers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &senderProc{admin: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &sendertest.LogBuffer{}}
	p.Proc = servers.NewProc("sender", []string{bin}, append([]string{
		"SENDER_KAFKA_BROKERS=" + k.Addr, "SENDER_INFLUX_URL=" + in.URL, "SENDER_INFLUX_TOKEN=" + in.Token,
		"SENDER_INFLUX_ORG=" + in.Org, "SENDER_INFLUX_BUCKET=" + in.Bucket,
		fmt.Sprintf("SENDER_ADMIN_LISTEN=127.0.0.1:%d", port),
	}, env...), func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.admin+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	}, p.logs)
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() || os.Getenv("SENDER_TEST_SHOW_LOG") != "" {
			t.Logf("sender log:\n%s", p.logs.String())
		}
	})
	return p
}

// start starts (or restarts) the process and waits until it is ready.
func (p *senderProc) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sendertest.Wait)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkStartLine wants the first line the sender logs to be its JSON start line.
func checkStartLine(t *testing.T, logs string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "--- servers:") { // the Proc's own note
			continue
		}
		var l struct{ Level, Msg, Component string }
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Msg != "sender starting" || l.Level != "INFO" || l.Component != "sender" {
			t.Errorf("first log line %q (%v), want the JSON start line", line, err)
		}
		return
	}
	t.Error("no log line")
}

func TestBinaryConfigAndHelp(t *testing.T) {
	t.Parallel()
	bin := build(t)
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"help", []string{"--help"}, nil, 0, "SENDER_OWM_API_KEY_FILE"},
		{"bad batch size", nil, []string{"SENDER_BATCH_SIZE=0"}, 2, "SENDER_BATCH_SIZE"},
		{"bad env number", nil, []string{"SENDER_BATCH_SIZE=lots"}, 2, "SENDER_BATCH_SIZE"},
		{"owm without key", nil, []string{"SENDER_WEATHER_PROVIDER=owm"}, 2, "SENDER_OWM_API_KEY"},
		{"bad influx url", []string{"--influx-url", "influx:8086"}, nil, 2, "SENDER_INFLUX_URL"},
		{"stray argument", []string{"extra"}, nil, 2, "unexpected argument"},
		{"help names the replay", []string{"--help"}, nil, 0, "sender replay --help"},
		{"replay help", []string{"replay", "--help"}, nil, 0, "--dry-run"},
		{"replay bad reason", []string{"replay", "--reason", "lost"}, nil, 2, `--reason "lost"`},
		{"replay without kafka", []string{"replay", "--kafka-brokers", "127.0.0.1:1"}, nil, 1, "sender replay:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out, tt.code, tt.want)
			}
		})
	}
}

// serverArgs are the flags that point the sender at the servers, on a free admin port.
func serverArgs(t testing.TB, s sendertest.Servers) ([]string, string) {
	t.Helper()
	port, err := servers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	return []string{
		"--kafka-brokers", s.Kafka.Addr, "--influx-url", s.Influx.URL, "--influx-token", s.Influx.Token,
		"--influx-org", s.Influx.Org, "--influx-bucket", s.Influx.Bucket, "--admin-listen", admin,
	}, "http://" + admin
}

// The whole sender in-process through run, as the binary runs: one JSON start line,
// ready once in its group and InfluxDB answers, readings stored, the metrics served,
// and a rejected OpenWeatherMap key never in the log, even though every weather
// request fails with it (the URL carries it).
func TestMainInProcess(t *testing.T) {
	t.Parallel()
	srv := sendertest.StartServers(t, 2)
	owm := sendertest.NewOWM(t, "the-right-key")
	const wrongKey = "wrong-key-7c41e9"
	keyFile := filepath.Join(t.TempDir(), "owm-key")
	if err := os.WriteFile(keyFile, []byte(wrongKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args, admin := serverArgs(t, srv)
	args = append(args, "--owm-api-key-file", keyFile, "--owm-url", owm.URL, "--weather-ttl", "2s", "--batch-size", "300")
	logFile, err := os.Create(filepath.Join(t.TempDir(), "sender.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	ctx, cancel := context.WithCancel(context.Background())
	code, stopped := -1, make(chan struct{})
	go func() { code = run(ctx, args, logFile); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	sendertest.WaitFor(t, "/readyz", func() (bool, string) {
		code, body, err := httpGet(admin + "/readyz")
		return code == http.StatusOK, fmt.Sprint(code, body, err)
	})

	rs := sendertest.Readings(1500, 6, 1_763_700_000_000_000_000)
	sendertest.Produce(t, srv.Kafka.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	sendertest.WaitFor(t, "every reading committed", func() (bool, string) {
		n := sendertest.Committed(t, srv.Kafka.Addr, "smartx-sender", sendertest.Topic, 2)
		return n == int64(len(rs)), fmt.Sprint(n, " committed")
	})
	sendertest.CheckStored(t, srv.Influx, rs, "Gwangju")
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
		t.Errorf("run after cancel = %d, want 0", code)
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
		{[]string{"--kafka-topic", "readings#1"}, "SENDER_KAFKA_TOPIC"},
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
			if code := run(context.Background(), tt.args, f); code != 2 {
				t.Errorf("run(%v) = %d, want 2", tt.args, code)
			}
			out, _ := os.ReadFile(f.Name())
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("stderr %q does not name %s", out, tt.want)
			}
		})
	}
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

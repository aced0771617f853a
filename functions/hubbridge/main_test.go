package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// Every setting shows in --help with its environment variable.
func TestHelp(t *testing.T) {
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &errb); code != 0 {
		t.Fatalf("--help exits %d", code)
	}
	for _, env := range []string{
		"HUB_MODE", "HUB_LISTEN", "HUB_ADMIN_LISTEN", "HUB_MONGO_URI", "HUB_MONGO_URI_FILE", "HUB_MONGO_DATABASE",
		"HUB_KAFKA_BROKERS", "HUB_KAFKA_TOPIC", "HUB_DEVICE_TOKENS_FILE", "HUB_TOKENS_RELOAD", "HUB_MAX_BODY_BYTES", "HUB_MAX_IN_FLIGHT", "HUB_STORE_TIMEOUT",
		"HUB_LIMITS", "HUB_MQTT_URL", "HUB_MQTT_TOPIC", "HUB_MQTT_CLIENT_ID", "HUB_MQTT_USERNAME", "HUB_MQTT_PASSWORD",
		"HUB_MQTT_PASSWORD_FILE", "HUB_RELAY_BATCH", "HUB_STORE_BATCH", "HUB_DELIVERED_RETENTION", "HUB_DEDUP_MAX", "HUB_PPROF", "HUB_LOG_LEVEL",
	} {
		if !strings.Contains(errb.String(), "["+env+"]") {
			t.Errorf("--help does not document %s", env)
		}
	}
}

// --help must not print a secret given in the environment as a default.
func TestHelpHidesSecrets(t *testing.T) {
	t.Setenv("HUB_MONGO_URI", "mongodb://hub:s3cret@db:27017/")
	t.Setenv("HUB_MQTT_PASSWORD", "s3cret")
	var errb bytes.Buffer
	run(context.Background(), []string{"--help"}, &errb)
	if strings.Contains(errb.String(), "s3cret") {
		t.Errorf("--help shows a secret:\n%s", errb.String())
	}
}

// A bad setting exits 2 at once with a message naming it (and never a password).
func TestBadConfig(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(tokens, []byte(`{"pi-1": 42}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		key  string
	}{
		{name: "mode", args: []string{"--mode=cloud"}, code: 2, key: "HUB_MODE"},
		{name: "limits", args: []string{"--limits=temperature=80:-40"}, code: 2, key: "HUB_LIMITS"},
		{name: "brokers", args: []string{"--kafka-brokers= , "}, code: 2, key: "HUB_KAFKA_BROKERS"},
		{name: "topic", args: []string{"--kafka-topic=readings#1"}, code: 2, key: "HUB_KAFKA_TOPIC"},
		{name: "log level", args: []string{"--log-level=loud"}, code: 2, key: "HUB_LOG_LEVEL"},
		{name: "batch env", env: map[string]string{"HUB_RELAY_BATCH": "many"}, code: 2, key: "HUB_RELAY_BATCH"},
		{name: "mongo uri", args: []string{"--mongo-uri=http://hub:s3cret@db/"}, code: 2, key: "HUB_MONGO_URI"},
		{name: "mongo uri file", args: []string{"--mongo-uri-file=/nonexistent/uri"}, code: 2, key: "HUB_MONGO_URI_FILE"},
		{name: "stray argument", args: []string{"serve"}, code: 2, key: "serve"},
		{name: "tokens file", args: []string{"--device-tokens-file=" + tokens, "--listen=127.0.0.1:0", "--admin-listen=127.0.0.1:0"}, code: 1, key: "HUB_DEVICE_TOKENS_FILE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var errb bytes.Buffer
			code := run(context.Background(), tt.args, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.key) {
				t.Errorf("exit %d, stderr %q; want %d naming %s", code, errb.String(), tt.code, tt.key)
			}
			if strings.Contains(errb.String(), "s3cret") {
				t.Errorf("output shows the password: %s", errb.String())
			}
		})
	}
}

// The binary as deployed: configured by env, one JSON start line with its addresses,
// ready with MongoDB, serving EdgeX's ping, and a clean exit on SIGTERM.
func TestBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := servers.BuildGo(ctx, "github.com/smartx-team/overcloud/functions/hubbridge")
	if err != nil {
		t.Fatal(err)
	}
	m := servertest.Mongo(t)
	k := servertest.Kafka(t, "readings")
	ports := make([]int, 2)
	for i := range ports {
		if ports[i], err = servers.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("HUB_LISTEN=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("HUB_ADMIN_LISTEN=127.0.0.1:%d", ports[1]),
		"HUB_MONGO_URI="+m.URI, "HUB_KAFKA_BROKERS="+k.Addr, "HUB_KAFKA_TOPIC=readings",
	)
	// Logs go to stderr, as every function's do.
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			lines <- line
		}
		close(lines)
	}()
	started := nextLine(t, lines, "hub bridge started")
	if started["listen"] != fmt.Sprintf("127.0.0.1:%d", ports[0]) || started["admin"] != fmt.Sprintf("127.0.0.1:%d", ports[1]) {
		t.Errorf("start line %v lacks the addresses", started)
	}

	for _, url := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]),
		fmt.Sprintf("http://127.0.0.1:%d/api/v3/ping", ports[0]),
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	nextLine(t, lines, "hub bridge stopped")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// nextLine returns the next log line with msg, failing on EOF.
func nextLine(t *testing.T, lines <-chan map[string]any, msg string) map[string]any {
	t.Helper()
	for line := range lines {
		if line["msg"] == msg {
			return line
		}
	}
	t.Fatalf("no log line %q", msg)
	return nil
}

// Credentials in the MongoDB URI never reach the log or the error output, even when
// MongoDB refuses them.
func TestMongoPasswordNotLogged(t *testing.T) {
	m := servertest.Mongo(t)
	uri := strings.Replace(m.URI, "mongodb://", "mongodb://hub:s3cret@", 1) + "?authSource=admin&serverSelectionTimeoutMS=2000"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out lockedBuffer
	done := make(chan int, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() {
		done <- run(runCtx, []string{"--mongo-uri=" + uri, "--listen=127.0.0.1:0", "--admin-listen=127.0.0.1:0"}, &out)
	}()
	// Whether FerretDB accepts or refuses the credentials, nothing may show them.
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), "hub bridge started") && !strings.Contains(out.String(), "cannot start") {
		select {
		case <-deadline:
			t.Fatal("the hub neither started nor failed")
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	<-done
	t.Logf("output (MongoDB may refuse the made-up user):\n%s", out.String())
	if strings.Contains(out.String(), "s3cret") {
		t.Errorf("password in output:\n%s", out.String())
	}
}

// lockedBuffer is a bytes.Buffer safe to write and read from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

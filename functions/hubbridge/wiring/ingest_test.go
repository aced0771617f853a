package wiring

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// At shutdown a request in flight finishes and is answered; one that comes meanwhile
// is answered 503 with Retry-After and Connection: close; then Run returns.
func TestIngestServerShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	})
	s := newIngestServer(ln, h, ingestOptions{MaxBodyBytes: 1024, MaxHeaderBytes: 4096, Handlers: 8,
		Idle: time.Minute, Write: 5 * time.Second, Drain: 5 * time.Second}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	post := func(path string) (*http.Response, error) {
		return client.Post(base+path, "application/json", strings.NewReader(`{}`))
	}
	var resp *http.Response
	for i := 0; ; i++ { // the engine starts in Run
		if resp, err = post("/fast"); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("before shutdown: %v %v", resp, err)
	}
	resp.Body.Close()

	slow := make(chan int, 1)
	go func() {
		r, err := post("/slow")
		if err != nil {
			slow <- 0
			return
		}
		r.Body.Close()
		slow <- r.StatusCode
	}()
	<-entered
	cancel()
	for !s.closing.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	late, err := post("/fast")
	if err != nil {
		t.Fatalf("during shutdown: %v", err)
	}
	late.Body.Close()
	if late.StatusCode != http.StatusServiceUnavailable || late.Header.Get("Retry-After") == "" || !late.Close {
		t.Errorf("during shutdown: %d, Retry-After %q, close %v; want 503, a Retry-After and the connection closed",
			late.StatusCode, late.Header.Get("Retry-After"), late.Close)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if code := <-slow; code != http.StatusCreated {
		t.Errorf("the request in flight at shutdown: %d, want 201", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// Package service holds what every long-running function of ours does the same way:
// settings from flags and environment, a logger, the admin HTTP endpoints (health,
// readiness, Prometheus metrics) and running parts together until a signal stops them.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

// NewLogger returns a JSON logger on w at the named level (debug, info, warn, error)
// with component set; an unknown level is an error naming it. Every function logs to
// stderr (w), so that stdout stays free for what a command prints.
func NewLogger(w io.Writer, component, level string) (*slog.Logger, error) {
	l, err := ParseLogLevel(level)
	if err != nil {
		return nil, err
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})
	return slog.New(h).With("component", component), nil
}

// NewRegistry returns a metrics registry with the Go runtime and process collectors.
// Beside the usual Go figures it gives go_gc_heap_live_bytes, the heap the last
// collection kept: a resident size that grows while it stays flat is memory the
// runtime holds between collections, not a leak.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Admin serves /healthz (the process is alive), /readyz (ready reports nil) and
// /metrics on its own listener, apart from any data port.
type Admin struct {
	srv *http.Server
	ln  net.Listener
	mux *http.ServeMux
}

// NewAdmin listens on addr at once, so a port clash fails at start. ready may be nil
// (always ready).
func NewAdmin(addr string, reg prometheus.Gatherer, ready func(context.Context) error) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &Admin{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, mux: mux}, nil
}

// EnablePprof serves Go's profiles under /debug/pprof/ (CPU: /debug/pprof/profile,
// heap, goroutine, allocs, block, mutex by name, and /debug/pprof/trace), for `go
// tool pprof http://<admin>/debug/pprof/profile`. Off unless a function's switch
// calls it: a profile costs CPU while it runs. The command line is not served, since
// it may carry a flag's secret. Call it before Run.
func (a *Admin) EnablePprof() {
	a.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	a.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Addr is the address the admin server listens on.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully.
func (a *Admin) Run(ctx context.Context) error { return Serve(ctx, a.srv, a.ln) }

// Serve runs srv on ln until ctx ends, then gives in-flight requests up to 10 s.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}

// Run runs parts together until ctx ends or one fails; then it cancels the others and
// waits for all of them. A part that returns because ctx ended is not an error.
func Run(ctx context.Context, parts ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		g.Go(func() error {
			err := p(ctx)
			if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	return g.Wait()
}

// SignalContext is cancelled by SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// RedactURL hides a password in a connection string, for logs.
func RedactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	creds := s[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return s[:scheme+3] + user + ":xxxxx" + s[at:]
	}
	return s
}

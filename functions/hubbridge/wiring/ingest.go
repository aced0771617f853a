package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
)

// ingestServer serves the EdgeX REST ingest on nbio's event loop instead of net/http.
//
// Why: net/http keeps a goroutine and a 4 KiB read and a 4 KiB write buffer for every
// connection, idle or not. At 10,000 devices that was 89 MB of stacks and about 80 MB
// of buffers, most of the hub's 433 MB. Here a few poller goroutines watch every
// connection, an idle one costs its parser, and requests run on a pool of goroutines
// that grows with the requests in flight, not with the connections. The handler is
// the same http.Handler.
//
// Shutdown is graceful in the hub's sense: once it starts, new requests are answered
// 503 with Retry-After and "Connection: close", the requests in flight finish (they
// are stored and answered), and only then are the connections closed.
type ingestServer struct {
	engine  *nbhttp.Engine
	workers *workerPool
	log     *slog.Logger
	drain   time.Duration
	closing atomic.Bool
	running atomic.Int64 // requests in the handler
}

// ingestOptions are the server's limits, from the hub's config.
type ingestOptions struct {
	// MaxBodyBytes is the handler's limit. nbio reads a whole body before the handler
	// runs, so the parser takes parserBodyFactor times it: a body over the limit up to
	// that is answered 413 by the handler, as EdgeX does; a larger one closes the
	// connection, so that no client makes the hub buffer more.
	MaxBodyBytes int64
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// Handlers bounds the goroutines running requests (the hub's in-flight limit, so
	// that its admission answers an overload, not a queue in front of it).
	Handlers int
	// HandlerIdle is how long a goroutine that ran a request waits for the next
	// before it ends (default defaultHandlerIdle; see workerPool).
	HandlerIdle time.Duration
	// Idle closes a connection without a request for this long; Write bounds writing
	// an answer; Drain bounds the wait for requests in flight at shutdown.
	Idle, Write, Drain time.Duration
}

// nbioLogger routes nbio's log lines to slog. nbio has one logger for the process.
type nbioLogger struct{ log *slog.Logger }

func (l nbioLogger) Debug(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l nbioLogger) Info(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l nbioLogger) Warn(format string, v ...any)  { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l nbioLogger) Error(format string, v ...any) { l.log.Warn(fmt.Sprintf(format, v...)) }

var setNbioLogger sync.Once

// defaultHandlerIdle keeps a request goroutine through the pauses of a steady load
// (a device at 0.3 Hz posts every 3.3 s) and frees it soon after the load ends.
const defaultHandlerIdle = 5 * time.Second

// parserBodyFactor: see ingestOptions.MaxBodyBytes (16 x 64 KiB = 1 MiB by default).
const parserBodyFactor = 16

// newIngestServer serves h on ln (already bound, so that its address is known before
// Run) once Run is called.
func newIngestServer(ln net.Listener, h http.Handler, o ingestOptions, log *slog.Logger) *ingestServer {
	setNbioLogger.Do(func() { logging.SetLogger(nbioLogger{log.With("part", "nbio")}) })
	if o.HandlerIdle <= 0 {
		o.HandlerIdle = defaultHandlerIdle
	}
	s := &ingestServer{log: log, drain: o.Drain, workers: newWorkerPool(o.Handlers, o.HandlerIdle, log)}
	handed := false
	s.engine = nbhttp.NewEngine(nbhttp.Config{
		Name:  "hub-ingest",
		Addrs: []string{ln.Addr().String()},
		// The listener is bound in New; nbio asks for it once, when it starts.
		Listen: func(string, string) (net.Listener, error) {
			if handed {
				return nil, errors.New("hub ingest: the listener was handed out already")
			}
			handed = true
			return ln, nil
		},
		Handler:           s.serve(h),
		MaxHTTPBodySize:   int(parserBodyFactor * o.MaxBodyBytes),
		ReadLimit:         o.MaxHeaderBytes + int(parserBodyFactor*o.MaxBodyBytes),
		ServerExecutor:    s.workers.Go,
		KeepaliveTime:     o.Idle,
		WriteTimeout:      o.Write,
		SupportServerOnly: true,
	})
	return s
}

// serve counts the requests in the handler and, while shutting down, refuses new ones.
func (s *ingestServer) serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.running.Add(1)
		defer s.running.Add(-1)
		if s.closing.Load() {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"apiVersion":"v3","message":"the hub is shutting down; retry","statusCode":503}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Run serves until ctx ends, then shuts down gracefully (see ingestServer).
func (s *ingestServer) Run(ctx context.Context) error {
	if err := s.engine.Start(); err != nil {
		return fmt.Errorf("hub ingest: %w", err)
	}
	<-ctx.Done()
	s.closing.Store(true)
	deadline := time.Now().Add(s.drain)
	for s.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.running.Load(); n > 0 {
		s.log.Warn("requests still in flight at shutdown; their connections are closed", "requests", n, "waited", s.drain)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.engine.Shutdown(shutdownCtx)
	s.workers.Stop()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("hub ingest: shutdown: %w", err)
	}
	return nil
}

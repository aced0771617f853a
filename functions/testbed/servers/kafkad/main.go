// Command kafkad runs a one-broker kfake Kafka cluster on 127.0.0.1 in its own process,
// with its state in a data dir so it can be stopped and started again with its topics,
// records and committed group offsets. It stops gracefully (state saved) on SIGTERM or
// SIGINT. Tests start it through servers.NewKafka; it is not for production.
//
//	kafkad --port 9092 --data-dir DIR --partitions 1 --topics readings,readings.dlq
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// config holds kafkad's settings.
type config struct {
	Port       int
	DataDir    string
	Partitions int
	Topics     []string
	LogLevel   kfake.LogLevel
}

// parse reads the command line into a config and validates it.
func parse(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("kafkad", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var topics, level string
	fs.IntVar(&c.Port, "port", 9092, "TCP port to listen on, on 127.0.0.1 only")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory that keeps the cluster's state across restarts (required)")
	fs.IntVar(&c.Partitions, "partitions", 1, "partitions of each topic in --topics")
	fs.StringVar(&topics, "topics", "", "comma-separated topics to create at start (kept ones are reloaded)")
	fs.StringVar(&level, "log-level", "warn", "kfake log level: none, error, warn, info, debug")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for t := range strings.SplitSeq(topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.Topics = append(c.Topics, t)
		}
	}
	switch strings.ToLower(level) {
	case "none":
		c.LogLevel = kfake.LogLevelNone
	case "error":
		c.LogLevel = kfake.LogLevelError
	case "warn":
		c.LogLevel = kfake.LogLevelWarn
	case "info":
		c.LogLevel = kfake.LogLevelInfo
	case "debug":
		c.LogLevel = kfake.LogLevelDebug
	default:
		return c, fmt.Errorf("--log-level %q: want none, error, warn, info or debug", level)
	}
	switch {
	case c.Port <= 0 || c.Port > 65535:
		return c, fmt.Errorf("--port %d: want 1-65535", c.Port)
	case c.DataDir == "":
		return c, errors.New("--data-dir: required")
	case c.Partitions < 1 || c.Partitions > 1000:
		return c, fmt.Errorf("--partitions %d: want 1-1000", c.Partitions)
	}
	return c, nil
}

// run starts the cluster, prints its address and serves until SIGTERM or SIGINT.
func run(args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "kafkad: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve(ctx, c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "kafkad: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the cluster until ctx ends, then closes it, which saves its state.
func serve(ctx context.Context, c config, stdout, stderr io.Writer) error {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(c.Port),
		kfake.DataDir(c.DataDir),
		kfake.WithLogger(kfake.BasicLogger(stderr, c.LogLevel)),
		// kfake binds 127.0.0.1 today; pin it so no change upstream opens the broker
		// to the network.
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort("127.0.0.1", port))
		}),
	}
	if len(c.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(c.Partitions), c.Topics...))
	}
	cl, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	fmt.Fprintf(stdout, "kafkad listening on %s, data in %s, topics %v\n", strings.Join(cl.ListenAddrs(), ","), c.DataDir, c.Topics)
	<-ctx.Done()
	fmt.Fprintln(stdout, "kafkad shutting down, saving state")
	cl.Close()
	fmt.Fprintln(stdout, "kafkad stopped")
	return nil
}

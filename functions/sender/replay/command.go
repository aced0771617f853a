package replay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/consume"
)

const usage = `sender replay publishes dead letters back to the readings topic, after what made
them fail is fixed. It reads the dead-letter topic up to its end at the start,
selects by reason, device and the time of dead-lettering, and lists (--dry-run) or
publishes each selected message's original key, value and headers. Running it twice
is harmless: a reading's InfluxDB point is identified by the reading, so a reading
stored twice overwrites its own point. Times are RFC 3339 (2026-12-01T09:00:00Z) or a
duration back from now (24h).`

// Command is `sender replay`: it returns the exit code (0 done or --help, 1 failure,
// 2 bad flags). The listing and progress go to stdout, errors to stderr.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr, time.Now())
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sender replay:", err)
		return 2
	}
	o.Out = stdout
	res, err := Run(ctx, o)
	verb := "replayed"
	if o.DryRun {
		verb = "would replay (dry run)"
	}
	fmt.Fprintf(stdout, "read %d dead letters of %s; %s %d to %s%s\n",
		res.Read, o.DeadLetterTopic, verb, res.Selected, o.Topic, byReason(res.ByReason))
	if err != nil {
		fmt.Fprintf(stderr, "sender replay: %v (published %d before it)\n", err, res.Published)
		return 1
	}
	return 0
}

func byReason(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, r := range consume.Reasons {
		if m[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// parseFlags reads the replay's flags and environment; now anchors relative times.
func parseFlags(args []string, out io.Writer, now time.Time) (Options, error) {
	fs := service.NewFlags("sender replay", usage)
	fs.SetOutput(out)
	brokers := fs.String("kafka-brokers", "SENDER_KAFKA_BROKERS", service.DefaultKafkaBrokers, "Kafka bootstrap brokers, comma-separated host:port")
	dead := fs.String("dead-letter-topic", "SENDER_DEAD_LETTER_TOPIC", reading.DeadLetterTopic, "topic the dead letters are read from")
	topic := fs.String("kafka-topic", "SENDER_KAFKA_TOPIC", reading.Topic, "topic they are published to")
	reasons := fs.String("reason", "", "", "comma-separated reasons to replay ("+strings.Join(consume.Reasons, ", ")+"); empty: all")
	devices := fs.String("device", "", "", "comma-separated devices (the message key) to replay; empty: all")
	since := fs.String("since", "", "", "replay what was dead-lettered at or after this time")
	until := fs.String("until", "", "", "replay what was dead-lettered before this time")
	dryRun := fs.Bool("dry-run", "", false, "list the selected dead letters (topic/partition/offset, time, device, reason, error) and publish nothing")
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	o := Options{
		Brokers: service.SplitList(*brokers), DeadLetterTopic: *dead, Topic: *topic,
		Reasons: service.SplitList(*reasons), Devices: service.SplitList(*devices), DryRun: *dryRun,
	}
	if err := service.CheckBrokers(o.Brokers); err != nil {
		return Options{}, fmt.Errorf("--kafka-brokers: %w", err)
	}
	for name, t := range map[string]string{"--dead-letter-topic": o.DeadLetterTopic, "--kafka-topic": o.Topic} {
		if err := service.CheckTopic(t); err != nil {
			return Options{}, fmt.Errorf("%s=%q: %w", name, t, err)
		}
	}
	if o.DeadLetterTopic == o.Topic {
		return Options{}, fmt.Errorf("--dead-letter-topic and --kafka-topic are both %q", o.Topic)
	}
	for _, r := range o.Reasons {
		if !slices.Contains(consume.Reasons, r) {
			return Options{}, fmt.Errorf("--reason %q: want one of %s", r, strings.Join(consume.Reasons, ", "))
		}
	}
	var err error
	if o.Since, err = parseTime("--since", *since, now); err != nil {
		return Options{}, err
	}
	if o.Until, err = parseTime("--until", *until, now); err != nil {
		return Options{}, err
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Since.Before(o.Until) {
		return Options{}, fmt.Errorf("--since %s is not before --until %s", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339))
	}
	return o, nil
}

// parseTime reads an RFC 3339 time or a positive duration back from now; "" is zero.
func parseTime(name, v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2026-12-01T09:00:00Z) or a duration back from now (24h)", name, v)
}

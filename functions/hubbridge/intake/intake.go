// Package intake is what the hub does with an EdgeX event however it arrived (the
// hub's own EdgeX REST ingest or EdgeX's message bus): turn its readings into the
// reading contract, refuse the bad ones by reason, number those without a sequence
// number, and store the good ones durably in the outbox. It also owns the counters of
// received and refused input, which both entry points share.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/hubbridge/outbox"
	"github.com/smartx-team/overcloud/functions/reading"
)

// Store is where good readings go; *outbox.Outbox implements it.
type Store interface {
	// Store writes readings durably and returns once they are.
	Store(ctx context.Context, rs []reading.Reading) (outbox.StoreResult, error)
	// NextSeq reserves n sequence numbers for device and returns the first.
	NextSeq(ctx context.Context, device string, n int) (uint64, error)
}

// Options configure an Intake; Store is required.
type Options struct {
	Store Store
	// Limits are the accepted value ranges per resource (default: none checked).
	Limits Limits
	// Registerer receives hub_received_total and hub_rejected_total (default: none).
	Registerer prometheus.Registerer
	// Logger (default: discard).
	Logger *slog.Logger
}

// Intake converts and stores events. It is safe for concurrent use.
type Intake struct {
	store    Store
	limits   Limits
	log      *slog.Logger
	received prometheus.Counter
	rejected *prometheus.CounterVec
	failed   *prometheus.CounterVec // Accept calls that failed, by step
}

// New returns an Intake and registers its metrics.
func New(o Options) (*Intake, error) {
	if o.Store == nil {
		return nil, errors.New("intake: Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	in := &Intake{
		store:  o.Store,
		limits: o.Limits,
		log:    o.Logger,
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_received_total",
			Help: "Readings accepted and durably stored (including repeats of stored readings).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_rejected_total",
			Help: "Refused input by reason: whole requests or messages, or single readings of an event.",
		}, []string{"reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_accept_errors_total",
			Help: "Events (REST or message bus) that could not be stored, so were not acknowledged, by step: seq (numbering readings without a seq tag) or store.",
		}, []string{"step"}),
	}
	for _, r := range Reasons {
		in.rejected.WithLabelValues(string(r))
	}
	in.failed.WithLabelValues(stepSeq)
	in.failed.WithLabelValues(stepStore)
	if o.Registerer != nil {
		if err := o.Registerer.Register(in.received); err != nil {
			return nil, fmt.Errorf("intake: register metrics: %w", err)
		}
		if err := o.Registerer.Register(in.rejected); err != nil {
			return nil, fmt.Errorf("intake: register metrics: %w", err)
		}
		if err := o.Registerer.Register(in.failed); err != nil {
			return nil, fmt.Errorf("intake: register metrics: %w", err)
		}
	}
	return in, nil
}

// Steps of Accept that can fail, the step label of hub_accept_errors_total.
const (
	stepSeq   = "seq"
	stepStore = "store"
)

// Reject counts one refused request or message.
func (in *Intake) Reject(reason Reason) { in.rejected.WithLabelValues(string(reason)).Inc() }

// Result says what became of an event's readings.
type Result struct {
	// Stored counts readings stored now, Duplicates readings stored before.
	Stored, Duplicates int
	// Rejected are the readings refused.
	Rejected []Rejection
}

// Accepted is the number of readings the hub holds for this event.
func (r Result) Accepted() int { return r.Stored + r.Duplicates }

// Message sums the result up for the sender of the event.
func (r Result) Message() string {
	total := r.Accepted() + len(r.Rejected)
	var b strings.Builder
	switch {
	case len(r.Rejected) == 0:
		fmt.Fprintf(&b, "stored %d readings", r.Accepted())
	case r.Accepted() == 0:
		fmt.Fprintf(&b, "no reading stored: all %d rejected", total)
	default:
		fmt.Fprintf(&b, "stored %d of %d readings", r.Accepted(), total)
	}
	for i, rej := range r.Rejected {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more rejected", len(r.Rejected)-i)
			break
		}
		b.WriteString("; rejected ")
		b.WriteString(rej.String())
	}
	return b.String()
}

// Accept converts ev (validated with EdgeX's contract by the caller) into readings of
// its device at location, refuses and counts the bad ones, and stores the good ones;
// it returns once they are durable. An error means nothing was stored for sure: the
// sender should retry (ids make the retry idempotent). An event with no good reading
// is not an error: Result.Accepted is 0.
func (in *Intake) Accept(ctx context.Context, ev dtos.Event, location string) (Result, error) {
	conv := Convert(ev, location, in.limits)
	res := Result{Rejected: conv.Rejected}
	for _, rej := range conv.Rejected {
		in.Reject(rej.Reason)
	}
	if len(conv.Readings) == 0 {
		return res, nil
	}
	missing := 0
	for _, r := range conv.Readings {
		if r.Seq == 0 {
			missing++
		}
	}
	if missing > 0 {
		first, err := in.store.NextSeq(ctx, ev.DeviceName, missing)
		if err != nil {
			in.failed.WithLabelValues(stepSeq).Inc()
			return res, fmt.Errorf("intake: number readings: %w", err)
		}
		for i := range conv.Readings {
			if conv.Readings[i].Seq == 0 {
				conv.Readings[i].Seq = first
				first++
			}
		}
	}
	sr, err := in.store.Store(ctx, conv.Readings)
	if err != nil {
		in.failed.WithLabelValues(stepStore).Inc()
		return res, fmt.Errorf("intake: store: %w", err)
	}
	res.Stored, res.Duplicates = sr.Stored, sr.Duplicates
	in.received.Add(float64(res.Accepted()))
	return res, nil
}

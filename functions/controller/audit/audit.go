// Package audit keeps the controller's audit trail and override state in MongoDB
// (mongo-driver v2; MongoDB or FerretDB).
//
// Every set-point change, automatic or manual, and every override started, cancelled
// or run out is one Entry document in the audit collection, never updated: when, who or
// what ("controller" or "manual by <user>"), which device, old and new set-point, why
// (the model's prediction and the limits, or the operator's reason), and whether
// applying it succeeded. The overrides in force are one document per device in the
// overrides collection (_id = device), so they survive a restart.
//
// Times are stored as BSON dates, which hold milliseconds: Record truncates to them.
package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartx-team/overcloud/functions/controller/policy"
)

// Actions of an Entry.
const (
	ActionAuto     = "auto"     // the controller changed the set-point from the model
	ActionFallback = "fallback" // the controller changed it falling back (a fault)
	ActionManual   = "manual"   // an operator set it; an override starts
	ActionCancel   = "cancel"   // an operator cancelled the override
	ActionExpire   = "expire"   // the override ran out
)

// ActorController is the actor of the controller's own entries; an operator's is
// Manual(user).
const ActorController = "controller"

// Manual is the actor of an operator's entry: "manual by <user>".
func Manual(user string) string { return "manual by " + user }

// Entry is one line of the audit trail.
type Entry struct {
	// ID is set by Record.
	ID string `bson:"-" json:"id"`
	// Time is when it happened (Record sets it when zero).
	Time   time.Time `bson:"time" json:"time"`
	Device string    `bson:"device" json:"device"`
	Actor  string    `bson:"actor" json:"actor"`
	Action string    `bson:"action" json:"action"`
	// Old and New are the set-points before and after, C (nil: unknown, or no change,
	// as for a cancel).
	Old *float64 `bson:"old,omitempty" json:"old,omitempty"`
	New *float64 `bson:"new,omitempty" json:"new,omitempty"`
	// Reason is why: the decision in words, or the operator's reason.
	Reason string `bson:"reason" json:"reason"`
	// Prediction is the model's answer the change rests on, Limits those it was held to
	// (controller entries).
	Prediction *Prediction `bson:"prediction,omitempty" json:"prediction,omitempty"`
	Limits     *Limits     `bson:"limits,omitempty" json:"limits,omitempty"`
	// ModelVersion is the version of the model that answered (0: none).
	ModelVersion int64 `bson:"model_version,omitempty" json:"model_version,omitempty"`
	// Until is when a manual override ends.
	Until *time.Time `bson:"until,omitempty" json:"until,omitempty"`
	// Applied reports that core-command took the set-point; Error says why not.
	Applied bool   `bson:"applied" json:"applied"`
	Error   string `bson:"error,omitempty" json:"error,omitempty"`
	// DryRun: nothing was sent to the device, by configuration.
	DryRun bool `bson:"dry_run,omitempty" json:"dry_run,omitempty"`
}

// Prediction is the model's answer for one set-point.
type Prediction struct {
	Setpoint    float64  `bson:"setpoint" json:"setpoint"`
	Temperature float64  `bson:"temperature" json:"temperature"`
	Humidity    *float64 `bson:"humidity,omitempty" json:"humidity,omitempty"`
}

// Limits are the limits a decision was held to.
type Limits struct {
	TempLimit float64 `bson:"temp_limit" json:"temp_limit"`
	Margin    float64 `bson:"margin" json:"margin"`
	RHMin     float64 `bson:"rh_min" json:"rh_min"`
	RHMax     float64 `bson:"rh_max" json:"rh_max"`
}

// entryDoc is an Entry as stored, with its ObjectID (time-ordered) as _id.
type entryDoc struct {
	ID    bson.ObjectID `bson:"_id"`
	Entry `bson:",inline"`
}

// overrideDoc is an override as stored.
type overrideDoc struct {
	Device   string    `bson:"_id"`
	Setpoint float64   `bson:"setpoint"`
	User     string    `bson:"user"`
	Reason   string    `bson:"reason"`
	Since    time.Time `bson:"since"`
	Until    time.Time `bson:"until"`
}

// Options name where the store keeps its documents.
type Options struct {
	// Database (default "smartx_controller").
	Database string
	// Audit is the audit trail's collection (default "audit").
	Audit string
	// Overrides is the overrides' collection (default "overrides").
	Overrides string
}

// Store is the audit trail and the override state. It is safe for concurrent use. It
// does not own the client: whoever connected it disconnects it.
type Store struct {
	client    *mongo.Client
	audit     *mongo.Collection
	overrides *mongo.Collection
}

// New returns the store on client; it sends nothing (see EnsureIndexes).
func New(client *mongo.Client, o Options) *Store {
	if o.Database == "" {
		o.Database = "smartx_controller"
	}
	if o.Audit == "" {
		o.Audit = "audit"
	}
	if o.Overrides == "" {
		o.Overrides = "overrides"
	}
	db := client.Database(o.Database)
	return &Store{client: client, audit: db.Collection(o.Audit), overrides: db.Collection(o.Overrides)}
}

// indexes are the audit trail's indexes by name: by time, and by device and time.
var indexes = []struct {
	name string
	keys bson.D
}{
	{"time_-1", bson.D{{Key: "time", Value: -1}}},
	{"device_1_time_-1", bson.D{{Key: "device", Value: 1}, {Key: "time", Value: -1}}},
}

// EnsureIndexes creates the audit trail's indexes that are missing. It lists them
// first and creates only what is not there (FerretDB 1.24 fails on creating an index
// that exists).
func (s *Store) EnsureIndexes(ctx context.Context) error {
	cur, err := s.audit.Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("audit: list indexes: %w", err)
	}
	var have []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &have); err != nil {
		return fmt.Errorf("audit: list indexes: %w", err)
	}
	names := make([]string, len(have))
	for i, h := range have {
		names[i] = h.Name
	}
	var missing []mongo.IndexModel
	for _, ix := range indexes {
		if !slices.Contains(names, ix.name) {
			missing = append(missing, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := s.audit.Indexes().CreateMany(ctx, missing); err != nil {
		return fmt.Errorf("audit: create indexes: %w", err)
	}
	return nil
}

// Ping checks that MongoDB answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongodb ping: %w", err)
	}
	return nil
}

// Record appends e to the audit trail and returns it as stored (ID and Time set).
func (s *Store) Record(ctx context.Context, e Entry) (Entry, error) {
	if e.Device == "" || e.Actor == "" || e.Action == "" {
		return Entry{}, errors.New("audit: an entry needs device, actor and action")
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	if e.Until != nil {
		u := e.Until.UTC().Truncate(time.Millisecond)
		e.Until = &u
	}
	doc := entryDoc{ID: bson.NewObjectID(), Entry: e}
	if _, err := s.audit.InsertOne(ctx, doc); err != nil {
		return Entry{}, fmt.Errorf("audit: record %s of %s: %w", e.Action, e.Device, err)
	}
	e.ID = doc.ID.Hex()
	return e, nil
}

// Query selects entries; the zero Query is the newest DefaultLimit of all devices.
type Query struct {
	// Device, if set, selects one device's entries.
	Device string
	// Since, if set, selects entries at or after it.
	Since time.Time
	// Limit is how many at most (default DefaultLimit, at most MaxLimit).
	Limit int
}

// Limits of a Query.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// List returns the entries q selects, newest first.
func (s *Store) List(ctx context.Context, q Query) ([]Entry, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	filter := bson.D{}
	if q.Device != "" {
		filter = append(filter, bson.E{Key: "device", Value: q.Device})
	}
	if !q.Since.IsZero() {
		filter = append(filter, bson.E{Key: "time", Value: bson.D{{Key: "$gte", Value: q.Since.UTC()}}})
	}
	cur, err := s.audit.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "time", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(q.Limit)))
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	var docs []entryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	out := make([]Entry, len(docs))
	for i, d := range docs {
		out[i] = d.Entry
		out[i].ID = d.ID.Hex()
		out[i].Time = out[i].Time.UTC()
		if out[i].Until != nil {
			u := out[i].Until.UTC()
			out[i].Until = &u
		}
	}
	return out, nil
}

// SaveOverride stores the override in force for device, replacing any before.
func (s *Store) SaveOverride(ctx context.Context, device string, o policy.Override) error {
	doc := overrideDoc{Device: device, Setpoint: o.Setpoint, User: o.User, Reason: o.Reason,
		Since: o.Since.UTC().Truncate(time.Millisecond), Until: o.Until.UTC().Truncate(time.Millisecond)}
	_, err := s.overrides.ReplaceOne(ctx, bson.D{{Key: "_id", Value: device}}, doc, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("audit: save the override of %s: %w", device, err)
	}
	return nil
}

// DeleteOverride removes device's override; none stored is no error.
func (s *Store) DeleteOverride(ctx context.Context, device string) error {
	if _, err := s.overrides.DeleteOne(ctx, bson.D{{Key: "_id", Value: device}}); err != nil {
		return fmt.Errorf("audit: delete the override of %s: %w", device, err)
	}
	return nil
}

// Overrides returns the stored overrides by device, expired ones too (the caller
// decides what has run out).
func (s *Store) Overrides(ctx context.Context) (map[string]policy.Override, error) {
	cur, err := s.overrides.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("audit: read the overrides: %w", err)
	}
	var docs []overrideDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("audit: read the overrides: %w", err)
	}
	out := make(map[string]policy.Override, len(docs))
	for _, d := range docs {
		out[d.Device] = policy.Override{Setpoint: d.Setpoint, User: d.User, Reason: d.Reason, Since: d.Since.UTC(), Until: d.Until.UTC()}
	}
	return out, nil
}

// Package registry keeps what devices register with the hub's EdgeX ingest (device
// profiles, device services, devices) in MongoDB, like EdgeX's core-metadata, with
// the names in memory so an event's device check costs no database round trip.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections, one document per name: {_id: name, body: the EdgeX DTO as JSON, ...}.
const (
	profilesColl = "deviceprofiles"
	servicesColl = "deviceservices"
	devicesColl  = "devices"
)

// Errors AddX returns for what EdgeX answers 409 and 404.
var (
	ErrExists         = errors.New("already registered")
	ErrUnknownProfile = errors.New("device profile not registered")
	ErrUnknownService = errors.New("device service not registered")
	ErrNotFound       = errors.New("not registered")
)

// Device is what the hub needs of a registered device.
type Device struct {
	Name, Profile, Service string
	// Location is the device's location if it registered a string, else empty.
	Location string
}

// Registry is safe for concurrent use.
type Registry struct {
	db *mongo.Database

	mu       sync.RWMutex
	profiles map[string]bool
	services map[string]bool
	devices  map[string]Device
}

type doc struct {
	ID       string    `bson:"_id"`
	Body     string    `bson:"body,omitempty"`
	Location string    `bson:"location,omitempty"`
	Profile  string    `bson:"profile,omitempty"`
	Service  string    `bson:"service,omitempty"`
	Created  time.Time `bson:"created"`
}

// Open loads the registered names from db.
func Open(ctx context.Context, db *mongo.Database) (*Registry, error) {
	r := &Registry{db: db, profiles: map[string]bool{}, services: map[string]bool{}, devices: map[string]Device{}}
	for _, c := range []struct {
		coll string
		add  func(doc)
	}{
		{profilesColl, func(d doc) { r.profiles[d.ID] = true }},
		{servicesColl, func(d doc) { r.services[d.ID] = true }},
		{devicesColl, func(d doc) { r.devices[d.ID] = deviceOf(d) }},
	} {
		cur, err := db.Collection(c.coll).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "body", Value: 0}}))
		if err != nil {
			return nil, fmt.Errorf("registry: load %s: %w", c.coll, err)
		}
		var docs []doc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("registry: load %s: %w", c.coll, err)
		}
		for _, d := range docs {
			c.add(d)
		}
	}
	return r, nil
}

func deviceOf(d doc) Device {
	return Device{Name: d.ID, Profile: d.Profile, Service: d.Service, Location: d.Location}
}

// AddProfile registers a device profile; ErrExists if the name is taken.
func (r *Registry) AddProfile(ctx context.Context, p dtos.DeviceProfile) error {
	if err := r.insert(ctx, profilesColl, doc{ID: p.Name}, p); err != nil {
		return err
	}
	r.mu.Lock()
	r.profiles[p.Name] = true
	r.mu.Unlock()
	return nil
}

// AddService registers a device service; ErrExists if the name is taken.
func (r *Registry) AddService(ctx context.Context, s dtos.DeviceService) error {
	if err := r.insert(ctx, servicesColl, doc{ID: s.Name}, s); err != nil {
		return err
	}
	r.mu.Lock()
	r.services[s.Name] = true
	r.mu.Unlock()
	return nil
}

// AddDevice registers a device whose profile and service are registered (else
// ErrUnknownProfile or ErrUnknownService); ErrExists if the name is taken.
func (r *Registry) AddDevice(ctx context.Context, d dtos.Device) error {
	r.mu.RLock()
	hasProfile, hasService := r.profiles[d.ProfileName], r.services[d.ServiceName]
	r.mu.RUnlock()
	if !hasProfile {
		return fmt.Errorf("%w: %q", ErrUnknownProfile, d.ProfileName)
	}
	if !hasService {
		return fmt.Errorf("%w: %q", ErrUnknownService, d.ServiceName)
	}
	loc, _ := d.Location.(string)
	dd := doc{ID: d.Name, Location: loc, Profile: d.ProfileName, Service: d.ServiceName}
	if err := r.insert(ctx, devicesColl, dd, d); err != nil {
		return err
	}
	r.mu.Lock()
	r.devices[d.Name] = deviceOf(dd)
	r.mu.Unlock()
	return nil
}

func (r *Registry) insert(ctx context.Context, coll string, d doc, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("registry: encode %s: %w", d.ID, err)
	}
	d.Body, d.Created = string(b), time.Now()
	if _, err := r.db.Collection(coll).InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("%w: %q", ErrExists, d.ID)
		}
		return fmt.Errorf("registry: store %s: %w", d.ID, err)
	}
	return nil
}

// Device returns a registered device; ok is false if it is not registered. Names are
// looked up in memory first and in MongoDB on a miss (another hub process may have
// registered it).
func (r *Registry) Device(ctx context.Context, name string) (Device, bool, error) {
	r.mu.RLock()
	d, ok := r.devices[name]
	r.mu.RUnlock()
	if ok {
		return d, true, nil
	}
	var dd doc
	err := r.db.Collection(devicesColl).FindOne(ctx, bson.D{{Key: "_id", Value: name}},
		options.FindOne().SetProjection(bson.D{{Key: "body", Value: 0}})).Decode(&dd)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, fmt.Errorf("registry: look up device: %w", err)
	}
	d = deviceOf(dd)
	r.mu.Lock()
	r.devices[name] = d
	r.mu.Unlock()
	return d, true, nil
}

// DeviceDTO returns a registered device as it was registered; ErrNotFound if not.
func (r *Registry) DeviceDTO(ctx context.Context, name string) (dtos.Device, error) {
	var dd doc
	err := r.db.Collection(devicesColl).FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&dd)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return dtos.Device{}, fmt.Errorf("device %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return dtos.Device{}, fmt.Errorf("registry: read device: %w", err)
	}
	var d dtos.Device
	if err := json.Unmarshal([]byte(dd.Body), &d); err != nil {
		return dtos.Device{}, fmt.Errorf("registry: stored device %q: %w", name, err)
	}
	return d, nil
}

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
	dd, err := r.deviceDoc(d)
	if err != nil {
		return err
	}
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
	var d dtos.Device
	return d, r.body(ctx, devicesColl, "device", name, &d)
}

// UpdateProfile replaces a registered profile (core-metadata's PUT); ErrNotFound if it
// is not registered.
func (r *Registry) UpdateProfile(ctx context.Context, p dtos.DeviceProfile) error {
	r.mu.RLock()
	known := r.profiles[p.Name]
	r.mu.RUnlock()
	if !known {
		return fmt.Errorf("device profile %q: %w", p.Name, ErrNotFound)
	}
	return r.replace(ctx, profilesColl, doc{ID: p.Name}, p)
}

// Service returns a registered device service; ErrNotFound if it is not registered.
func (r *Registry) Service(ctx context.Context, name string) (dtos.DeviceService, error) {
	var s dtos.DeviceService
	return s, r.body(ctx, servicesColl, "device service", name, &s)
}

// UpdateService patches a registered device service's base address, admin state and
// description where u sets them (core-metadata's PATCH); ErrNotFound if it is not
// registered.
func (r *Registry) UpdateService(ctx context.Context, u dtos.UpdateDeviceService) error {
	if u.Name == nil {
		return fmt.Errorf("device service: %w: no name", ErrNotFound)
	}
	s, err := r.Service(ctx, *u.Name)
	if err != nil {
		return err
	}
	if u.BaseAddress != nil {
		s.BaseAddress = *u.BaseAddress
	}
	if u.AdminState != nil {
		s.AdminState = *u.AdminState
	}
	if u.Description != nil {
		s.Description = *u.Description
	}
	if u.Labels != nil {
		s.Labels = u.Labels
	}
	return r.replace(ctx, servicesColl, doc{ID: s.Name}, s)
}

// UpdateDevice patches a registered device's service, profile, location, description
// and labels where u sets them; the profile and service must be registered.
// ErrNotFound if the device is not registered.
func (r *Registry) UpdateDevice(ctx context.Context, u dtos.UpdateDevice) error {
	if u.Name == nil {
		return fmt.Errorf("device: %w: no name", ErrNotFound)
	}
	d, err := r.DeviceDTO(ctx, *u.Name)
	if err != nil {
		return err
	}
	if u.ServiceName != nil {
		d.ServiceName = *u.ServiceName
	}
	if u.ProfileName != nil {
		d.ProfileName = *u.ProfileName
	}
	if u.Location != nil {
		d.Location = u.Location
	}
	if u.Description != nil {
		d.Description = *u.Description
	}
	if u.Labels != nil {
		d.Labels = u.Labels
	}
	dd, err := r.deviceDoc(d)
	if err != nil {
		return err
	}
	if err := r.replace(ctx, devicesColl, dd, d); err != nil {
		return err
	}
	r.mu.Lock()
	r.devices[d.Name] = deviceOf(dd)
	r.mu.Unlock()
	return nil
}

// deviceDoc is how d is stored, once its profile and service are known to be
// registered (else ErrUnknownProfile or ErrUnknownService).
func (r *Registry) deviceDoc(d dtos.Device) (doc, error) {
	r.mu.RLock()
	hasProfile, hasService := r.profiles[d.ProfileName], r.services[d.ServiceName]
	r.mu.RUnlock()
	if !hasProfile {
		return doc{}, fmt.Errorf("%w: %q", ErrUnknownProfile, d.ProfileName)
	}
	if !hasService {
		return doc{}, fmt.Errorf("%w: %q", ErrUnknownService, d.ServiceName)
	}
	loc, _ := d.Location.(string)
	return doc{ID: d.Name, Location: loc, Profile: d.ProfileName, Service: d.ServiceName}, nil
}

// body reads the registered body of name from coll into v.
func (r *Registry) body(ctx context.Context, coll, kind, name string, v any) error {
	var dd doc
	err := r.db.Collection(coll).FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&dd)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("registry: read %s: %w", kind, err)
	}
	if err := json.Unmarshal([]byte(dd.Body), v); err != nil {
		return fmt.Errorf("registry: stored %s %q: %w", kind, name, err)
	}
	return nil
}

// replace stores body as the registration d.ID, keeping its creation time.
func (r *Registry) replace(ctx context.Context, coll string, d doc, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("registry: encode %s: %w", d.ID, err)
	}
	set := bson.D{{Key: "body", Value: string(b)}, {Key: "location", Value: d.Location}, {Key: "profile", Value: d.Profile}, {Key: "service", Value: d.Service}}
	res, err := r.db.Collection(coll).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("registry: update %s: %w", d.ID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("%q: %w", d.ID, ErrNotFound)
	}
	return nil
}

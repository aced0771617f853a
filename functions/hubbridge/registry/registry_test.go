package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"

	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

func TestRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := servertest.MongoClient(t).Database("registry_test")
	r, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	dev := dtos.Device{Name: "dev-1", ProfileName: "p", ServiceName: "s", AdminState: "UNLOCKED", OperatingState: "UP", Location: "sector-3"}
	if err := r.AddDevice(ctx, dev); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("device before its profile: %v, want ErrUnknownProfile", err)
	}
	if err := r.AddProfile(ctx, dtos.DeviceProfile{DeviceProfileBasicInfo: dtos.DeviceProfileBasicInfo{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddDevice(ctx, dev); !errors.Is(err, ErrUnknownService) {
		t.Errorf("device before its service: %v, want ErrUnknownService", err)
	}
	if err := r.AddService(ctx, dtos.DeviceService{Name: "s", BaseAddress: "http://x"}); err != nil {
		t.Fatal(err)
	}
	for name, add := range map[string]func() error{
		"profile": func() error {
			return r.AddProfile(ctx, dtos.DeviceProfile{DeviceProfileBasicInfo: dtos.DeviceProfileBasicInfo{Name: "p"}})
		},
		"service": func() error { return r.AddService(ctx, dtos.DeviceService{Name: "s"}) },
	} {
		if err := add(); !errors.Is(err, ErrExists) {
			t.Errorf("second %s: %v, want ErrExists", name, err)
		}
	}
	if err := r.AddDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if err := r.AddDevice(ctx, dev); !errors.Is(err, ErrExists) {
		t.Errorf("second device: %v, want ErrExists", err)
	}
	other := dev
	other.Name, other.Location = "dev-2", map[string]any{"lat": 35.1}
	if err := r.AddDevice(ctx, other); err != nil {
		t.Fatal(err)
	}

	// A second registry (a restarted hub) knows them from MongoDB.
	r2, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, location string
		ok             bool
	}{{"dev-1", "sector-3", true}, {"dev-2", "", true}, {"ghost", "", false}} {
		d, ok, err := r2.Device(ctx, tt.name)
		if err != nil || ok != tt.ok || d.Location != tt.location {
			t.Errorf("Device(%s) = %+v, %v, %v; want ok %v location %q", tt.name, d, ok, err, tt.ok, tt.location)
		}
	}
	got, err := r2.DeviceDTO(ctx, "dev-1")
	if err != nil || got.Name != "dev-1" || got.Location != "sector-3" || got.ProfileName != "p" {
		t.Errorf("DeviceDTO = %+v, %v", got, err)
	}
	if _, err := r2.DeviceDTO(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeviceDTO(ghost): %v, want ErrNotFound", err)
	}
}

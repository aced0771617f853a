package coreclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/smartx-team/overcloud/device/edgex"
	"github.com/smartx-team/overcloud/functions/controller/coreclient"
	"github.com/smartx-team/overcloud/functions/controller/internal/controllertest"
)

func newClient(t *testing.T, url, token string) *coreclient.Client {
	t.Helper()
	c, err := coreclient.New(coreclient.Options{URL: url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The command core-command receives is EdgeX's set command: PUT on the device's
// setpoint command, the value a string of whole degrees, with the token if one is set.
func TestSetSetpoint(t *testing.T) {
	cc := controllertest.NewCoreCommand(t, "pi-1", "pi-2")
	c := newClient(t, cc.URL+"/", "s3cret")
	ctx := context.Background()
	if err := c.SetSetpoint(ctx, "pi-1", 23); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSetpoint(ctx, "pi-2", 24.6); err != nil {
		t.Fatal(err)
	}
	got := cc.Commands()
	if len(got) != 2 || got[0] != (controllertest.Command{Device: "pi-1", Setpoint: "23", Auth: "Bearer s3cret"}) ||
		got[1].Device != "pi-2" || got[1].Setpoint != "25" {
		t.Fatalf("commands %+v", got)
	}

	for _, tt := range []struct {
		name   string
		device string
		status int
		want   error
	}{
		{"unknown device", "pi-9", 0, coreclient.ErrUnknownDevice},
		{"device service down", "pi-1", http.StatusServiceUnavailable, coreclient.ErrUnavailable},
		{"locked", "pi-1", http.StatusLocked, coreclient.ErrRefused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cc.Fail("pi-1", tt.status)
			err := c.SetSetpoint(ctx, tt.device, 22)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.device) {
				t.Errorf("SetSetpoint = %v, want %v naming %s", err, tt.want, tt.device)
			}
		})
	}
	cc.Fail("pi-1", 0)
	if err := c.SetSetpoint(ctx, "../etc", 22); err == nil {
		t.Error("a device name with a slash was sent")
	}
	cc.Close()
	if err := c.SetSetpoint(ctx, "pi-1", 22); !errors.Is(err, coreclient.ErrUnavailable) {
		t.Errorf("core-command down: %v", err)
	}
}

// The Pi's own command endpoint (the firmware's device-service side, which core-command
// forwards to) takes the controller's command as it is, and refuses one outside its
// bounds with a message the controller passes on.
func TestFirmwareTakesTheCommand(t *testing.T) {
	var mu sync.Mutex
	applied := []float64{}
	srv, err := edgex.NewCommandServer(edgex.CommandOptions{
		Device: "pi-1", Profile: "smartx-pi", SetpointMin: 16, SetpointMax: 30,
		Setpoint: func() float64 { return 24 },
		Apply: func(_ context.Context, c float64) (float64, error) {
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, c)
			return c, nil
		},
		Room: func() map[string]float64 { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	c := newClient(t, hs.URL, "")
	if err := c.SetSetpoint(context.Background(), "pi-1", 26); err != nil {
		t.Fatal(err)
	}
	err = c.SetSetpoint(context.Background(), "pi-1", 35)
	if !errors.Is(err, coreclient.ErrRefused) || !strings.Contains(err.Error(), "outside") {
		t.Errorf("out of the Pi's bounds: %v, want ErrRefused with the Pi's reason", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 1 || applied[0] != 26 {
		t.Errorf("the Pi applied %v, want [26]", applied)
	}
}

func TestOptionsAndNames(t *testing.T) {
	if _, err := coreclient.New(coreclient.Options{URL: "core-command:59882"}); err == nil {
		t.Error("a URL without scheme was taken")
	}
	for name, ok := range map[string]bool{"pi-1": true, "Room_A.rack~2": true, "": false, "a/b": false, "a b": false, "..": false, strings.Repeat("x", 129): false} {
		if err := coreclient.CheckDevice(name); (err == nil) != ok {
			t.Errorf("CheckDevice(%q) = %v, want ok=%v", name, err, ok)
		}
	}
	if b, err := coreclient.Body(22.4); err != nil || string(b) != `{"setpoint":"22"}` {
		t.Errorf("Body(22.4) = %s %v", b, err)
	}
}

package edgexrest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// commandDevice is a device's command endpoint: it records what reaches it and
// answers like the firmware does.
type commandDevice struct {
	mu                 sync.Mutex
	method, path, auth string
	body               string
	status             int
	delay              time.Duration
}

func (d *commandDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	d.method, d.path, d.auth, d.body = r.Method, r.URL.Path, r.Header.Get("Authorization"), string(b)
	status, delay := d.status, d.delay
	d.mu.Unlock()
	time.Sleep(delay)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"apiVersion":"v3","statusCode":` + strconv.Itoa(status) + `}`))
}

// registerAt registers device with a device service of its own whose base address is
// base, as the firmware does.
func (a *testAPI) registerAt(t *testing.T, device, base string) {
	t.Helper()
	var items []itemAnswer
	a.post(t, "/api/v3/deviceprofile", "", mustJSON([]any{requests.NewDeviceProfileRequest(testProfile())}), &items)
	a.post(t, "/api/v3/deviceservice", "", mustJSON([]any{requests.NewAddDeviceServiceRequest(dtos.DeviceService{
		Name: device + "-service", BaseAddress: base, AdminState: "UNLOCKED",
	})}), &items)
	add := addDevice(device)
	add.Device.ServiceName = device + "-service"
	if status := a.post(t, "/api/v3/device", "", mustJSON([]any{add}), &items); status != http.StatusMultiStatus || items[0].StatusCode != http.StatusCreated {
		t.Fatalf("register %s: HTTP %d %+v", device, status, items)
	}
}

// The hub answers core-command's API in standalone mode: a command reaches the device
// it names at its registered address, with the caller's token, and the device's answer
// comes back; unknown devices, bad bodies, devices that are down or slow get clear
// errors.
func TestCommandForwarding(t *testing.T) {
	a := newAPIWith(t, nil, Options{CommandTimeout: 300 * time.Millisecond})
	pi1 := &commandDevice{status: http.StatusOK}
	dev := httptest.NewServer(pi1)
	t.Cleanup(dev.Close)
	a.registerAt(t, "pi-1", dev.URL)
	slow := &commandDevice{status: http.StatusOK, delay: time.Second}
	slowSrv := httptest.NewServer(slow)
	t.Cleanup(slowSrv.Close)
	a.registerAt(t, "pi-slow", slowSrv.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	a.registerAt(t, "pi-down", downAddr)

	for _, tt := range []struct {
		name, method, path, body string
		want                     int
		reason                   string
	}{
		{"set-point", http.MethodPut, "/api/v3/device/name/pi-1/setpoint", `{"setpoint": "22"}`, http.StatusOK, ""},
		{"read", http.MethodGet, "/api/v3/device/name/pi-1/setpoint", "", http.StatusOK, ""},
		{"unknown device", http.MethodPut, "/api/v3/device/name/pi-9/setpoint", `{"setpoint": "22"}`, http.StatusNotFound, "unknown_device"},
		{"not JSON", http.MethodPut, "/api/v3/device/name/pi-1/setpoint", `22`, http.StatusBadRequest, answerBadCommand},
		{"empty object", http.MethodPut, "/api/v3/device/name/pi-1/setpoint", `{}`, http.StatusBadRequest, answerBadCommand},
		{"number, not string", http.MethodPut, "/api/v3/device/name/pi-1/setpoint", `{"setpoint": 22}`, http.StatusBadRequest, answerBadCommand},
		{"device down", http.MethodPut, "/api/v3/device/name/pi-down/setpoint", `{"setpoint": "22"}`, http.StatusServiceUnavailable, answerDeviceDown},
		{"device slow", http.MethodPut, "/api/v3/device/name/pi-slow/setpoint", `{"setpoint": "22"}`, http.StatusGatewayTimeout, answerDeviceTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			before := servertest.Metric(t, a.reg, "hub_http_errors_total", "reason", tt.reason)
			var answer itemAnswer
			if got := a.send(t, tt.method, tt.path, "command-token", body, &answer); got != tt.want {
				t.Fatalf("HTTP %d, want %d: %+v", got, tt.want, answer)
			}
			if tt.reason != "" {
				if answer.Message == "" {
					t.Error("error without a message")
				}
				if after := servertest.Metric(t, a.reg, "hub_http_errors_total", "reason", tt.reason); after != before+1 {
					t.Errorf("hub_http_errors_total{reason=%q} %v -> %v", tt.reason, before, after)
				}
				return
			}
			pi1.mu.Lock()
			defer pi1.mu.Unlock()
			if pi1.method != tt.method || pi1.path != tt.path || pi1.body != tt.body || pi1.auth != "Bearer command-token" {
				t.Errorf("the device got %s %s %q (auth %q)", pi1.method, pi1.path, pi1.body, pi1.auth)
			}
		})
	}

	// The device's own refusal comes back as it is.
	pi1.mu.Lock()
	pi1.status = http.StatusBadRequest
	pi1.mu.Unlock()
	if got := a.send(t, http.MethodPut, "/api/v3/device/name/pi-1/setpoint", "", []byte(`{"setpoint": "99"}`), nil); got != http.StatusBadRequest {
		t.Errorf("a device's 400 came back as %d", got)
	}
}

package hubtest

import (
	"net/http"
	"strings"
	"testing"
)

// The hub must catch what a broken firmware would send, or the firmware's tests
// would prove nothing.
func TestRejectsBadRequests(t *testing.T) {
	h := New(map[string]string{"pi-1": "tok"})
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	post := func(path, token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, h.URL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	reg := `[{"apiVersion":"v3","profile":{"name":"p","deviceResources":[{"name":"temperature","properties":{"valueType":"Float64","readWrite":"R"}}]}}]`
	if c := post("/api/v3/deviceprofile", "", reg); c != 207 {
		t.Fatalf("profile: %d", c)
	}
	post("/api/v3/deviceservice", "", `[{"apiVersion":"v3","service":{"name":"s","baseAddress":"http://x:1","adminState":"UNLOCKED"}}]`)
	device := `[{"apiVersion":"v3","device":{"name":"pi-1","serviceName":"s","profileName":"p","adminState":"UNLOCKED","operatingState":"UP","protocols":{"other":{}}}}]`
	// As core-metadata: without bypassValidation the device service must validate the
	// device over the message bus, which times out for a device service not on it.
	if c := post("/api/v3/device", "tok", device); c != http.StatusServiceUnavailable {
		t.Errorf("device without bypassValidation: HTTP %d, want 503", c)
	}
	post("/api/v3/device?bypassValidation=true", "tok", device)
	if c := h.Counts(); c.Devices["pi-1"] != 1 {
		t.Fatalf("device not registered: %+v %v", c, h.Invalid())
	}

	const id = "0b0d6f38-3a1f-4d7e-9f5d-0c7a7b0e6a11"
	// tags go on the event; readingTags on its one reading.
	event := func(readingID, tags string, readingTags ...string) string {
		return `{"apiVersion":"v3","event":{"apiVersion":"v3","id":"` + id + `","deviceName":"pi-1","profileName":"p","sourceName":"room","origin":1` + tags + `,` +
			`"readings":[{"id":"` + readingID + `","origin":1,"deviceName":"pi-1","resourceName":"temperature","profileName":"p","valueType":"Float64","value":"2.1e+01"` + strings.Join(readingTags, "") + `}]}}`
	}
	const path = "/api/v3/event/s/p/pi-1/room"
	for _, tc := range []struct {
		name, path, token, body string
		code                    int
	}{
		{"good", path, "tok", event("5f0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", `,"tags":{"seq":1}`), 201},
		{"no token", path, "", event("6f0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", `,"tags":{"seq":2}`), 401},
		{"other device's path", "/api/v3/event/s/p/pi-2/room", "tok", event("7f0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", `,"tags":{"seq":2}`), 401},
		{"reading id not a uuid", path, "tok", event("r1", `,"tags":{"seq":2}`), 400},
		{"no seq", path, "tok", event("8f0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", ""), 400},
		{"seq per reading", path, "tok", event("cf0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", `,"tags":{"seq":2}`, `,"tags":{"seq":2}`), 400},
		{"path source differs", "/api/v3/event/s/p/pi-1/other", "tok", event("9f0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", `,"tags":{"seq":2}`), 400},
		{"edgex validation", path, "tok", strings.Replace(event("af0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", `,"tags":{"seq":2}`), `"valueType":"Float64"`, `"valueType":"Float99"`, 1), 400},
		{"not registered service", "/api/v3/event/x/p/pi-1/room", "tok", event("bf0e2b9e-9a53-4a8e-8b0c-4c1f0d8e7a21", `,"tags":{"seq":2}`), 404},
	} {
		if c := post(tc.path, tc.token, tc.body); c != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, c, tc.code)
		}
	}
	if n := len(h.Invalid()); n != 5 {
		t.Errorf("%d invalid requests recorded, want 5: %v", n, h.Invalid())
	}
	if got := h.Readings("pi-1"); len(got) != 1 || got[0].Seq != 1 || got[0].Value != 21 {
		t.Errorf("stored %+v", got)
	}
}

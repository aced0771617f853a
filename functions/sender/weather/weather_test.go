package weather

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const testKey = "0123456789abcdef-secret-key"

// fakeService answers like OpenWeatherMap and Open-Meteo with the fixtures in testdata,
// checks each request's query as the real services would, and counts requests.
type fakeService struct {
	t      *testing.T
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	status int    // answer status; 200 serves body
	body   string // testdata file served
	gate   chan struct{}
}

func newFakeService(t *testing.T, status int, fixture string) *fakeService {
	t.Helper()
	f := &fakeService{t: t, status: status, body: fixture}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /data/2.5/weather", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("units") != "metric" || q.Get("lat") != "35.15972" || q.Get("lon") != "126.85306" {
			t.Errorf("owm query %q lacks units=metric or Gwangju's coordinates", r.URL.RawQuery)
		}
		if q.Get("appid") != testKey {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(readFixture(t, "owm_401.json"))
			return
		}
		f.serve(w)
	})
	mux.HandleFunc("GET /v1/forecast", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("current") != "temperature_2m,relative_humidity_2m,weather_code" || q.Get("latitude") != "35.15972" || q.Get("longitude") != "126.85306" {
			t.Errorf("open-meteo query %q is not what the API expects", r.URL.RawQuery)
		}
		f.serve(w)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeService) serve(w http.ResponseWriter) {
	f.calls.Add(1)
	f.mu.Lock()
	status, body, gate := f.status, f.body, f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(readFixture(f.t, body))
}

// setGate makes requests wait until openGate.
func (f *fakeService) setGate(g chan struct{}) {
	f.mu.Lock()
	f.gate = g
	f.mu.Unlock()
}

func (f *fakeService) openGate() {
	f.mu.Lock()
	close(f.gate)
	f.mu.Unlock()
}

func (f *fakeService) set(status int, fixture string) {
	f.mu.Lock()
	f.status, f.body = status, fixture
	f.mu.Unlock()
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProviders(t *testing.T) {
	tests := []struct {
		name     string
		provider func(base string) (Provider, error)
		status   int
		fixture  string
		want     Weather
		wantErr  string
	}{
		{"owm clouds", owm(testKey), 200, "owm_gwangju_clouds.json", Weather{8.94, 57, Clouds}, ""},
		{"owm rain with mist", owm(testKey), 200, "owm_gwangju_rain.json", Weather{17.2, 94, Rain}, ""},
		{"owm smoke is atmosphere", owm(testKey), 200, "owm_gwangju_smoke.json", Weather{-3.5, 38, Atmosphere}, ""},
		{"owm bad key", owm("wrong-key"), 200, "owm_gwangju_clouds.json", Weather{}, "HTTP 401: Invalid API key"},
		{"owm 400", owm(testKey), 400, "owm_400.json", Weather{}, "HTTP 400: wrong latitude"},
		{"owm 200 without main", owm(testKey), 200, "openmeteo_gwangju.json", Weather{}, "no main.temp"},
		{"open-meteo overcast", openMeteo, 200, "openmeteo_gwangju.json", Weather{9.4, 55, Clouds}, ""},
		{"open-meteo snow", openMeteo, 200, "openmeteo_gwangju_snow.json", Weather{-1.8, 89, Snow}, ""},
		{"open-meteo 400", openMeteo, 400, "openmeteo_400.json", Weather{}, "HTTP 400: Latitude must be"},
		{"open-meteo 200 with owm body", openMeteo, 200, "owm_gwangju_clouds.json", Weather{}, "no current"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeService(t, tt.status, tt.fixture)
			p, err := tt.provider(f.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Current(context.Background(), Gwangju)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadResponse) {
					t.Fatalf("Current() = %v, %v; want ErrBadResponse containing %q", got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Fatalf("error leaks the API key: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Current() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func owm(key string) func(string) (Provider, error) {
	return func(base string) (Provider, error) { return NewOWM(base, key, nil) }
}

func openMeteo(base string) (Provider, error) { return NewOpenMeteo(base, nil) }

// The net/http errors quote the request URL, appid included: it must not get out.
func TestOWMErrorsHideKey(t *testing.T) {
	// A listener closed at once: the request fails with a URL-quoting dial error.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	p, err := NewOWM(base, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Current(context.Background(), Gwangju)
	if err == nil || strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "appid=xxxxx") {
		t.Fatalf("Current() error = %v; want a redacted URL", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err = p.Current(ctx, Gwangju); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), testKey) {
		t.Fatalf("Current(cancelled) = %v; want context.Canceled without the key", err)
	}
	for _, s := range []string{p.String(), strings.Join([]string{p.Name()}, "")} {
		if strings.Contains(s, testKey) {
			t.Fatalf("%q shows the key", s)
		}
	}
}

func TestNewProviderRejectsBadConfig(t *testing.T) {
	if _, err := NewOWM("http://127.0.0.1:1", "", nil); err == nil {
		t.Error("NewOWM without key: no error")
	}
	for _, base := range []string{"ftp://x", "127.0.0.1:80", "http://u:p@host", "http://host/?q=1"} {
		if _, err := NewOpenMeteo(base, nil); err == nil {
			t.Errorf("NewOpenMeteo(%q): no error", base)
		}
	}
}

func TestStateFromOWM(t *testing.T) {
	tests := []struct {
		id   int
		main string
		want State
	}{
		{211, "Thunderstorm", Thunderstorm}, {300, "Drizzle", Drizzle}, {500, "Rain", Rain},
		{600, "Snow", Snow}, {800, "Clear", Clear}, {804, "Clouds", Clouds}, {701, "Mist", Mist},
		{721, "Haze", Haze}, {711, "Smoke", Atmosphere}, {731, "Dust", Atmosphere}, {741, "Fog", Atmosphere},
		{751, "Sand", Atmosphere}, {762, "Ash", Atmosphere}, {771, "Squall", Atmosphere}, {781, "Tornado", Atmosphere},
		// main unknown (a new name): the id group decides.
		{232, "", Thunderstorm}, {721, "Dunst", Haze}, {701, "?", Mist}, {790, "", Atmosphere}, {801, "", Clouds},
		{0, "", Unknown}, {950, "Breeze", Unknown},
	}
	for _, tt := range tests {
		if got := StateFromOWM(tt.id, tt.main); got != tt.want {
			t.Errorf("StateFromOWM(%d, %q) = %v, want %v", tt.id, tt.main, got, tt.want)
		}
	}
}

func TestStateFromWMO(t *testing.T) {
	want := map[int]State{
		0: Clear, 1: Clouds, 2: Clouds, 3: Clouds, 45: Atmosphere, 48: Atmosphere,
		51: Drizzle, 53: Drizzle, 55: Drizzle, 56: Drizzle, 57: Drizzle,
		61: Rain, 63: Rain, 65: Rain, 66: Rain, 67: Rain, 80: Rain, 81: Rain, 82: Rain,
		71: Snow, 73: Snow, 75: Snow, 77: Snow, 85: Snow, 86: Snow,
		95: Thunderstorm, 96: Thunderstorm, 99: Thunderstorm,
		5: Haze, 10: Mist, 4: Atmosphere, 14: Unknown, 25: Unknown, -1: Unknown, 100: Unknown,
	}
	for code, w := range want {
		if got := StateFromWMO(code); got != w {
			t.Errorf("StateFromWMO(%d) = %v, want %v", code, got, w)
		}
	}
	// Every WMO code maps to a real state or Unknown, never out of 0..9.
	for code := range 100 {
		if s := StateFromWMO(code); s < Unknown || s > Haze {
			t.Errorf("StateFromWMO(%d) = %d", code, s)
		}
	}
}

func TestStateString(t *testing.T) {
	if Haze.String() != "Haze" || State(42).String() != "State(42)" {
		t.Fatalf("String: %s %s", Haze, State(42))
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) (Weather, error)
		in    string
		want  string
	}{
		{"owm not json", ParseOWM, `<html>`, "invalid character"},
		{"owm no weather", ParseOWM, `{"main":{"temp":1,"humidity":2},"weather":[]}`, "no weather condition"},
		{"owm humidity 140", ParseOWM, `{"main":{"temp":1,"humidity":140},"weather":[{"id":800,"main":"Clear"}]}`, "humidity 140"},
		{"owm kelvin", ParseOWM, `{"main":{"temp":281.1,"humidity":40},"weather":[{"id":800,"main":"Clear"}]}`, "temperature 281.1"},
		{"owm temp string", ParseOWM, `{"main":{"temp":"1","humidity":40},"weather":[{"id":800}]}`, "cannot unmarshal"},
		{"om fahrenheit", ParseOpenMeteo, `{"current_units":{"temperature_2m":"°F"},"current":{"temperature_2m":48,"relative_humidity_2m":50,"weather_code":0}}`, "want °C"},
		{"om fractional code", ParseOpenMeteo, `{"current":{"temperature_2m":8,"relative_humidity_2m":50,"weather_code":2.5}}`, "not a WMO code"},
		{"om code 300", ParseOpenMeteo, `{"current":{"temperature_2m":8,"relative_humidity_2m":50,"weather_code":300}}`, "not a WMO code"},
		{"om null temperature", ParseOpenMeteo, `{"current":{"temperature_2m":null,"relative_humidity_2m":50,"weather_code":1}}`, "no current"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := tt.parse([]byte(tt.in))
			if err == nil || !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parse = %+v, %v; want ErrBadResponse containing %q", w, err, tt.want)
			}
		})
	}
}

func FuzzParseOWM(f *testing.F) {
	for _, name := range []string{"owm_gwangju_clouds.json", "owm_gwangju_rain.json", "owm_gwangju_smoke.json", "owm_401.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"main":{"temp":1e400,"humidity":-0},"weather":[{"id":-9}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkParsed(t, ParseOWM, b) })
}

func FuzzParseOpenMeteo(f *testing.F) {
	for _, name := range []string{"openmeteo_gwangju.json", "openmeteo_gwangju_snow.json", "openmeteo_400.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"current":{"temperature_2m":-0,"relative_humidity_2m":100,"weather_code":99.0}}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkParsed(t, ParseOpenMeteo, b) })
}

// checkParsed: a parser never panics, errors wrap ErrBadResponse, and whatever it
// accepts is a plausible report.
func checkParsed(t *testing.T, parse func([]byte) (Weather, error), b []byte) {
	w, err := parse(b)
	if err != nil {
		if !errors.Is(err, ErrBadResponse) {
			t.Fatalf("error %v does not wrap ErrBadResponse", err)
		}
		return
	}
	if err := w.check(); err != nil || w.State < Unknown || w.State > Haze {
		t.Fatalf("accepted an implausible report %+v (%v)", w, err)
	}
}

// A body that is not JSON keeps the decoder's error as its cause, beside ErrBadResponse.
func TestParseKeepsTheCause(t *testing.T) {
	for name, parse := range map[string]func([]byte) (Weather, error){"owm": ParseOWM, "open-meteo": ParseOpenMeteo} {
		_, err := parse([]byte(`{"main":`))
		var syntax *json.SyntaxError
		if !errors.Is(err, ErrBadResponse) || !errors.As(err, &syntax) {
			t.Errorf("%s: parse of cut-off JSON = %v, want ErrBadResponse and the *json.SyntaxError", name, err)
		}
	}
}

package weather

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
)

// OpenMeteoDefaultURL is Open-Meteo's forecast API base (no key needed).
const OpenMeteoDefaultURL = "https://api.open-meteo.com"

// OpenMeteo asks Open-Meteo's forecast API for the current conditions
// (GET {base}/v1/forecast?latitude=..&longitude=..&current=temperature_2m,relative_humidity_2m,weather_code).
// It needs no key: the fallback when no OpenWeatherMap key is configured. It is safe
// for concurrent use.
type OpenMeteo struct {
	base   *url.URL
	client *http.Client
}

var _ Provider = (*OpenMeteo)(nil)

// NewOpenMeteo returns a provider for the API at base (OpenMeteoDefaultURL if empty);
// client may be nil (a client with a 10 s timeout).
func NewOpenMeteo(base string, client *http.Client) (*OpenMeteo, error) {
	if base == "" {
		base = OpenMeteoDefaultURL
	}
	u, err := parseBase(base)
	if err != nil {
		return nil, fmt.Errorf("open-meteo: %w", err)
	}
	if client == nil {
		client = defaultClient
	}
	return &OpenMeteo{base: u, client: client}, nil
}

// Name returns "open-meteo".
func (*OpenMeteo) Name() string { return "open-meteo" }

// Current implements Provider.
func (o *OpenMeteo) Current(ctx context.Context, loc Location) (Weather, error) {
	u := o.base.JoinPath("v1", "forecast")
	u.RawQuery = url.Values{
		"latitude": {loc.lat()}, "longitude": {loc.lon()},
		"current": {"temperature_2m,relative_humidity_2m,weather_code"},
	}.Encode()
	body, status, err := get(ctx, o.client, u, "")
	if err != nil {
		return Weather{}, fmt.Errorf("open-meteo: %w", err)
	}
	if status != http.StatusOK {
		// Error answers are {"error": true, "reason": "..."}.
		var e struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(body, &e)
		return Weather{}, fmt.Errorf("open-meteo: %w: HTTP %d: %s", ErrBadResponse, status, clip(e.Reason))
	}
	w, err := ParseOpenMeteo(body)
	if err != nil {
		return Weather{}, fmt.Errorf("open-meteo: %w", err)
	}
	return w, nil
}

// openMeteoResponse is the part of Open-Meteo's forecast answer we use.
type openMeteoResponse struct {
	CurrentUnits struct {
		Temperature string `json:"temperature_2m"`
	} `json:"current_units"`
	Current *struct {
		Temperature *float64 `json:"temperature_2m"`
		Humidity    *float64 `json:"relative_humidity_2m"`
		WeatherCode *float64 `json:"weather_code"`
	} `json:"current"`
}

// ParseOpenMeteo reads an Open-Meteo forecast answer asked for the current
// temperature_2m, relative_humidity_2m and weather_code (a WMO code, mapped by
// StateFromWMO). Errors wrap ErrBadResponse.
func ParseOpenMeteo(body []byte) (Weather, error) {
	var r openMeteoResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return Weather{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	c := r.Current
	if c == nil || c.Temperature == nil || c.Humidity == nil || c.WeatherCode == nil {
		return Weather{}, fmt.Errorf("%w: no current temperature_2m, relative_humidity_2m or weather_code", ErrBadResponse)
	}
	// Celsius is the default; a proxy that asked for Fahrenheit would skew every point.
	if u := r.CurrentUnits.Temperature; u != "" && u != "°C" {
		return Weather{}, fmt.Errorf("%w: temperature in %q, want °C", ErrBadResponse, u)
	}
	code := *c.WeatherCode
	if code != math.Trunc(code) || code < 0 || code > 99 {
		return Weather{}, fmt.Errorf("%w: weather_code %v is not a WMO code", ErrBadResponse, code)
	}
	w := Weather{TempC: *c.Temperature, Humidity: *c.Humidity, State: StateFromWMO(int(code))}
	if err := w.check(); err != nil {
		return Weather{}, err
	}
	return w, nil
}

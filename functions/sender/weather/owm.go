package weather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// OWMDefaultURL is OpenWeatherMap's API base.
const OWMDefaultURL = "https://api.openweathermap.org"

// OWM asks OpenWeatherMap's current weather API
// (GET {base}/data/2.5/weather?lat=..&lon=..&appid=KEY&units=metric).
// It is safe for concurrent use. Its key never appears in errors or in %v.
type OWM struct {
	base   *url.URL
	key    string
	client *http.Client
}

var _ Provider = (*OWM)(nil)

// NewOWM returns a provider for the API at base (OWMDefaultURL if empty) with an API
// key; client may be nil (a client with a 10 s timeout).
func NewOWM(base, key string, client *http.Client) (*OWM, error) {
	if base == "" {
		base = OWMDefaultURL
	}
	u, err := parseBase(base)
	if err != nil {
		return nil, fmt.Errorf("openweathermap: %w", err)
	}
	if key == "" {
		return nil, errors.New("openweathermap: an API key is required")
	}
	if client == nil {
		client = defaultClient
	}
	return &OWM{base: u, key: key, client: client}, nil
}

// Name returns "owm".
func (*OWM) Name() string { return "owm" }

// String describes the provider without its key.
func (o *OWM) String() string { return "owm(" + o.base.String() + ")" }

// Current implements Provider.
func (o *OWM) Current(ctx context.Context, loc Location) (Weather, error) {
	u := o.base.JoinPath("data", "2.5", "weather")
	u.RawQuery = url.Values{
		"lat": {loc.lat()}, "lon": {loc.lon()}, "appid": {o.key}, "units": {"metric"},
	}.Encode()
	body, status, err := get(ctx, o.client, u, o.key)
	if err != nil {
		return Weather{}, fmt.Errorf("openweathermap: %w", err)
	}
	if status != http.StatusOK {
		// Error answers carry {"cod": 401, "message": "..."}; cod is a number or a string.
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		msg := redactErr(errors.New(clip(e.Message)), o.key).Error()
		return Weather{}, fmt.Errorf("openweathermap: %w: HTTP %d: %s", ErrBadResponse, status, msg)
	}
	w, err := ParseOWM(body)
	if err != nil {
		return Weather{}, fmt.Errorf("openweathermap: %w", err)
	}
	return w, nil
}

// owmResponse is the part of OpenWeatherMap's current weather answer we use.
type owmResponse struct {
	Weather []struct {
		ID   int    `json:"id"`
		Main string `json:"main"`
	} `json:"weather"`
	Main *struct {
		Temp     *float64 `json:"temp"`
		Humidity *float64 `json:"humidity"`
	} `json:"main"`
}

// ParseOWM reads an OpenWeatherMap current weather answer (units=metric): the
// condition from weather[0], temperature and humidity from main. Errors wrap
// ErrBadResponse.
func ParseOWM(body []byte) (Weather, error) {
	var r owmResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return Weather{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if r.Main == nil || r.Main.Temp == nil || r.Main.Humidity == nil {
		return Weather{}, fmt.Errorf("%w: no main.temp or main.humidity", ErrBadResponse)
	}
	if len(r.Weather) == 0 {
		return Weather{}, fmt.Errorf("%w: no weather condition", ErrBadResponse)
	}
	w := Weather{TempC: *r.Main.Temp, Humidity: *r.Main.Humidity, State: StateFromOWM(r.Weather[0].ID, r.Weather[0].Main)}
	if err := w.check(); err != nil {
		return Weather{}, err
	}
	return w, nil
}

// Package weather gives the sender the outside weather at one place: a Provider asks a
// weather service (OpenWeatherMap, or the keyless Open-Meteo), and a Cache in front of
// it asks at most once per TTL, whatever the message rate.
//
// Weather states keep the original system's codes, so dashboards and the set-point
// model read the same numbers:
//
//	1 Thunderstorm  2 Drizzle  3 Rain  4 Snow  5 Atmosphere  6 Clear  7 Clouds  8 Mist  9 Haze
//
// OpenWeatherMap names the state in weather[0].main; its other atmosphere groups
// (Smoke, Dust, Fog, Sand, Ash, Squall, Tornado) are 5. Open-Meteo gives a WMO weather
// code instead; see StateFromWMO for how those map onto the same states.
package weather

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// State is the weather state code the original system stored as weather_stat.
type State int

// The weather states; Unknown is not stored.
const (
	Unknown State = iota
	Thunderstorm
	Drizzle
	Rain
	Snow
	Atmosphere
	Clear
	Clouds
	Mist
	Haze
)

var stateNames = [...]string{"Unknown", "Thunderstorm", "Drizzle", "Rain", "Snow", "Atmosphere", "Clear", "Clouds", "Mist", "Haze"}

// String returns the state's name, as OpenWeatherMap spells it.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "State(" + strconv.Itoa(int(s)) + ")"
	}
	return stateNames[s]
}

// Weather is the weather at one place at one time.
type Weather struct {
	// TempC is the air temperature in degrees Celsius.
	TempC float64
	// Humidity is the relative humidity in percent.
	Humidity float64
	// State is the weather state; Unknown when the provider's code has no mapping.
	State State
}

// Location is a place on Earth in decimal degrees.
type Location struct {
	Lat, Lon float64
}

// Gwangju is where the original system took its weather from.
var Gwangju = Location{Lat: 35.15972, Lon: 126.85306}

func (l Location) lat() string { return strconv.FormatFloat(l.Lat, 'f', -1, 64) }
func (l Location) lon() string { return strconv.FormatFloat(l.Lon, 'f', -1, 64) }

// Provider is a weather service. Implementations are safe for concurrent use.
type Provider interface {
	// Name is the provider's short name ("owm", "open-meteo"): the provider label of
	// sender_weather_fetches_total.
	Name() string
	// Current asks the service for the weather now at loc. Errors never contain
	// secrets (API keys are redacted from URLs).
	Current(ctx context.Context, loc Location) (Weather, error)
}

// ErrBadResponse is wrapped by every error about a response the provider sent that is
// not a usable weather report (error status, malformed JSON, missing or absurd values).
var ErrBadResponse = errors.New("bad weather response")

// check rejects values no real report has, so a broken service cannot poison the store.
func (w Weather) check() error {
	switch {
	case math.IsNaN(w.TempC) || w.TempC < -100 || w.TempC > 70:
		return fmt.Errorf("%w: temperature %v C", ErrBadResponse, w.TempC)
	case math.IsNaN(w.Humidity) || w.Humidity < 0 || w.Humidity > 100:
		return fmt.Errorf("%w: humidity %v %%", ErrBadResponse, w.Humidity)
	}
	return nil
}

// StateFromOWM maps OpenWeatherMap's condition (weather[0].main, and weather[0].id
// when main is not one we know) onto a State.
func StateFromOWM(id int, main string) State {
	switch main {
	case "Thunderstorm":
		return Thunderstorm
	case "Drizzle":
		return Drizzle
	case "Rain":
		return Rain
	case "Snow":
		return Snow
	case "Clear":
		return Clear
	case "Clouds":
		return Clouds
	case "Mist":
		return Mist
	case "Haze":
		return Haze
	case "Smoke", "Dust", "Fog", "Sand", "Ash", "Squall", "Tornado":
		return Atmosphere
	}
	// Condition ids are grouped by hundreds: https://openweathermap.org/weather-conditions
	switch {
	case id >= 200 && id < 300:
		return Thunderstorm
	case id >= 300 && id < 400:
		return Drizzle
	case id >= 500 && id < 600:
		return Rain
	case id >= 600 && id < 700:
		return Snow
	case id == 701:
		return Mist
	case id == 721:
		return Haze
	case id >= 700 && id < 800:
		return Atmosphere
	case id == 800:
		return Clear
	case id > 800 && id < 900:
		return Clouds
	}
	return Unknown
}

// StateFromWMO maps a WMO 4677 present-weather code, as Open-Meteo reports it in
// weather_code, onto a State:
//
//	0                      clear sky                          -> 6 Clear
//	1, 2, 3                mainly clear, partly cloudy, overcast -> 7 Clouds
//	4 smoke, 6-9 dust/sand, 11, 12, 40-49 fog, 18 squall,
//	19 funnel cloud, 30-35 dust or sand storm                -> 5 Atmosphere
//	5                      haze                               -> 9 Haze
//	10                     mist                               -> 8 Mist
//	50-57                  drizzle (also freezing)            -> 2 Drizzle
//	58-67, 80-82, 91, 92   rain (also freezing, showers)      -> 3 Rain
//	36-39, 68-79, 83-90,   blowing snow, sleet, snow, snow grains,
//	93, 94                 snow showers, hail                 -> 4 Snow
//	17, 29, 95-99          thunderstorm                       -> 1 Thunderstorm
//
// Open-Meteo sends only 0-3, 45, 48, 51-57, 61-67, 71-77, 80-86 and 95-99; the rest of
// the table follows WMO 4677 so another provider of the same codes also maps. Codes
// that describe the past hour or weather out of sight (13-16, 20-28) and anything out
// of 0-99 are Unknown: the point then has no weather_stat.
func StateFromWMO(code int) State {
	switch {
	case code == 0:
		return Clear
	case code >= 1 && code <= 3:
		return Clouds
	case code == 4, code >= 6 && code <= 9, code == 11, code == 12, code == 18, code == 19,
		code >= 30 && code <= 35, code >= 40 && code <= 49:
		return Atmosphere
	case code == 5:
		return Haze
	case code == 10:
		return Mist
	case code == 17, code == 29, code >= 95 && code <= 99:
		return Thunderstorm
	case code >= 50 && code <= 57:
		return Drizzle
	case code >= 58 && code <= 67, code >= 80 && code <= 82, code == 91, code == 92:
		return Rain
	case code >= 36 && code <= 39, code >= 68 && code <= 79, code >= 83 && code <= 90, code == 93, code == 94:
		return Snow
	}
	return Unknown
}

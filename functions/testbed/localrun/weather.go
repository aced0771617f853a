package localrun

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// WeatherStation answers OpenWeatherMap's current-weather request
// (GET /data/2.5/weather?lat=..&lon=..&appid=KEY&units=metric) in OpenWeatherMap's own
// response format, on 127.0.0.1, so that the demo and the tests enrich readings with
// weather on a machine without network. It reports fixed weather for Gwangju.
type WeatherStation struct {
	// URL is the base URL to give the sender (SENDER_OWM_URL).
	URL string
	// TempC and Humidity are what it reports.
	TempC, Humidity float64

	key   string
	srv   *http.Server
	calls atomic.Int64
	done  chan struct{}
}

// StartWeatherStation serves until Close; requests without key get OpenWeatherMap's 401.
func StartWeatherStation(key string, tempC, humidity float64) (*WeatherStation, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("weather station: %w", err)
	}
	w := &WeatherStation{URL: "http://" + ln.Addr().String(), TempC: tempC, Humidity: humidity, key: key, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /data/2.5/weather", w.serve)
	w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(w.done)
		_ = w.srv.Serve(ln)
	}()
	return w, nil
}

func (w *WeatherStation) serve(rw http.ResponseWriter, r *http.Request) {
	w.calls.Add(1)
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("appid")), []byte(w.key)) != 1 {
		rw.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(rw, `{"cod":401, "message": "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."}`)
		return
	}
	fmt.Fprintf(rw, `{"coord":{"lon":126.8531,"lat":35.1597},"weather":[{"id":721,"main":"Haze","description":"haze","icon":"50d"}],`+
		`"base":"stations","main":{"temp":%v,"feels_like":%v,"temp_min":%v,"temp_max":%v,"pressure":1021,"humidity":%v},`+
		`"visibility":8000,"wind":{"speed":1.54,"deg":250},"clouds":{"all":20},"dt":%d,`+
		`"sys":{"type":1,"id":8086,"country":"KR","sunrise":1763763321,"sunset":1763799756},"timezone":32400,"id":1841811,"name":"Gwangju","cod":200}`,
		w.TempC, w.TempC-1, w.TempC-0.5, w.TempC+0.5, w.Humidity, time.Now().Unix())
}

// Calls counts requests served, to check the sender's cache.
func (w *WeatherStation) Calls() int64 { return w.calls.Load() }

// Close stops the server and waits for it.
func (w *WeatherStation) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	<-w.done
	return err
}

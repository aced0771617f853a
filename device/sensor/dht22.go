//go:build linux && (arm || arm64) && cgo

package sensor

import (
	"context"
	"fmt"
	"sync"

	dht "github.com/d2r2/go-dht"
	logger "github.com/d2r2/go-logger"
)

// DHT22 reads a DHT22 (AM2302) by bit-banging its data line through the legacy sysfs
// GPIO interface (github.com/d2r2/go-dht). Reads need root (or the gpio group). On
// kernels 6.6 and later the sysfs numbers of the Pi's pins are offset by 512, beyond
// what go-dht handles: use the IIO sensor there.
type DHT22 struct {
	pin int
}

var _ Sensor = (*DHT22)(nil)

var quietDHT sync.Once

// NewDHT22 returns the sensor on sysfs GPIO pin (0..99).
func NewDHT22(pin int) (*DHT22, error) {
	if pin < 0 || pin > 99 {
		return nil, fmt.Errorf("dht22: pin %d outside 0..99", pin)
	}
	// go-dht logs every pulse train at debug level to stdout through its own global
	// logger; our log is slog, so silence it.
	quietDHT.Do(func() { _ = logger.ChangePackageLogLevel("dht", logger.FatalLevel) })
	return &DHT22{pin: pin}, nil
}

// Read makes one exchange with the sensor; retries are the caller's (see Checked),
// because the DHT22 needs two seconds between reads.
func (d *DHT22) Read(ctx context.Context) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	t, h, err := dht.ReadDHTxx(dht.DHT22, d.pin, false)
	if err != nil {
		return Sample{}, fmt.Errorf("dht22 pin %d: %w", d.pin, err)
	}
	return Sample{Temperature: float64(t), Humidity: float64(h)}, nil
}

// Package sensor reads the room's temperature and humidity: a small Sensor interface,
// its implementations (DHT22 through go-dht on cgo arm builds, the kernel's IIO DHT
// driver, and, in package sim, a thermal model) and Checked, which rejects the
// glitches DHT22 sensors are known for before a reading is ever queued.
package sensor

import (
	"context"
	"errors"
)

// Sample is one read of the room.
type Sample struct {
	Temperature float64 // degrees Celsius
	Humidity    float64 // relative humidity, percent
}

// Sensor reads the room. Read may block for the time one exchange with the hardware
// takes (a DHT22 read is about 5 ms, plus the kernel's own retries for IIO); it need
// not be safe for concurrent use: the firmware reads from one goroutine.
type Sensor interface {
	Read(ctx context.Context) (Sample, error)
}

// ErrUnsupported is returned by constructors of sensors this build cannot drive.
var ErrUnsupported = errors.New("sensor not supported by this build")

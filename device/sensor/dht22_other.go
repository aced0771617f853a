//go:build !(linux && (arm || arm64) && cgo)

package sensor

import (
	"context"
	"fmt"
)

// DHT22 is not available in this build: go-dht needs cgo on linux/arm. See dht22.go.
type DHT22 struct{}

var _ Sensor = (*DHT22)(nil)

// NewDHT22 fails in this build; the firmware's arm builds (make firmware) have it.
func NewDHT22(pin int) (*DHT22, error) {
	return nil, fmt.Errorf("dht22 on pin %d: %w (needs a cgo build for linux/arm; use sensor = iio or sim)", pin, ErrUnsupported)
}

// Read always fails.
func (*DHT22) Read(context.Context) (Sample, error) { return Sample{}, ErrUnsupported }

package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Files of the kernel's dht11 IIO driver (dtoverlay=dht11,gpiopin=N; it drives
// DHT22s too): processed values in milli-degrees Celsius and milli-percent.
const (
	IIOTempFile     = "in_temp_input"
	IIOHumidityFile = "in_humidityrelative_input"
)

// IIO reads a DHT sensor through the kernel's IIO driver: no cgo, no GPIO timing in
// user space, works on every kernel. Each Read triggers one exchange in the driver;
// a failed exchange surfaces as a read error (EIO, ETIMEDOUT).
type IIO struct {
	dir string
}

var _ Sensor = (*IIO)(nil)

// NewIIO returns the sensor whose IIO device directory is dir, checking that the
// directory has both inputs.
func NewIIO(dir string) (*IIO, error) {
	for _, f := range []string{IIOTempFile, IIOHumidityFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("iio device %s: %w", dir, err)
		}
	}
	return &IIO{dir: dir}, nil
}

// FindIIO returns the first IIO device under sysRoot (normally "/sys") that has both
// a temperature and a humidity input.
func FindIIO(sysRoot string) (string, error) {
	devs, err := filepath.Glob(filepath.Join(sysRoot, "bus", "iio", "devices", "*"))
	if err != nil {
		return "", err
	}
	sort.Strings(devs)
	for _, d := range devs {
		if _, err := os.Stat(filepath.Join(d, IIOTempFile)); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, IIOHumidityFile)); err != nil {
			continue
		}
		return d, nil
	}
	return "", fmt.Errorf("no IIO device with %s and %s under %s (is dtoverlay=dht11 set?)", IIOTempFile, IIOHumidityFile, sysRoot)
}

// Read reads temperature, then humidity. The driver caches one exchange for about
// two seconds, so both come from the same measurement.
func (s *IIO) Read(ctx context.Context) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	t, err := readMilli(filepath.Join(s.dir, IIOTempFile))
	if err != nil {
		return Sample{}, err
	}
	h, err := readMilli(filepath.Join(s.dir, IIOHumidityFile))
	if err != nil {
		return Sample{}, err
	}
	return Sample{Temperature: t, Humidity: h}, nil
}

func readMilli(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("iio: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, fmt.Errorf("iio read %s: %w", path, err)
	}
	v, err := ParseMilli(b)
	if err != nil {
		return 0, fmt.Errorf("iio %s: %w", path, err)
	}
	return v, nil
}

// ErrBadValue is wrapped by ParseMilli's errors.
var ErrBadValue = errors.New("not an IIO value")

// ParseMilli parses an IIO processed value in thousandths ("23400\n") into units
// (23.4).
func ParseMilli(b []byte) (float64, error) {
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadValue, truncate(s, 20))
	}
	return float64(n) / 1000, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

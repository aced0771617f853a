// Package actuator applies air-conditioner set-points: a small Actuator interface,
// the bounds every set-point must respect, and LIRC, which sends the air
// conditioner's infra-red code through lircd. The simulated air conditioner is
// package sim's Room.
package actuator

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Actuator applies a set-point. SetPoint is called with a value already checked
// against Bounds; it returns once the command has been sent (infra-red has no
// acknowledgement). Implementations must be safe for concurrent use.
type Actuator interface {
	SetPoint(ctx context.Context, celsius float64) error
}

// ErrOutOfBounds is wrapped by Bounds.Check's errors.
var ErrOutOfBounds = errors.New("set-point out of bounds")

// Bounds are the set-points accepted, inclusive (default 16..30 C).
type Bounds struct{ Min, Max float64 }

// Check reports whether c is a number within b.
func (b Bounds) Check(c float64) error {
	if math.IsNaN(c) || math.IsInf(c, 0) || c < b.Min || c > b.Max {
		return fmt.Errorf("%w: %v is outside %v..%v C", ErrOutOfBounds, c, b.Min, b.Max)
	}
	return nil
}

// Round is the set-point an air conditioner can take: whole degrees, as their
// remotes (and their infra-red codes) step.
func Round(c float64) float64 { return math.Round(c) }

// None refuses every set-point: for a device without an infra-red emitter.
type None struct{}

var _ Actuator = None{}

// ErrNoActuator is returned by None.
var ErrNoActuator = errors.New("no air conditioner is attached to this device")

// SetPoint always fails with ErrNoActuator.
func (None) SetPoint(context.Context, float64) error { return ErrNoActuator }

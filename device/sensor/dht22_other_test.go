//go:build !(linux && (arm || arm64) && cgo)

package sensor

import (
	"errors"
	"testing"
)

func TestDHT22NotInThisBuild(t *testing.T) {
	if _, err := NewDHT22(4); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("NewDHT22 = %v, want ErrUnsupported in a build without cgo on arm", err)
	}
}

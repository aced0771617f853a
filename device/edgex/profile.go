// Package edgex speaks EdgeX Foundry's v3 REST API for the firmware, with EdgeX's own
// contract types (go-mod-core-contracts) and their validation for every request:
// it registers the device profile, the device service and the device (Client.Register),
// posts events (Client.Send), and serves the device-service command endpoint that
// core-command calls to read and set the air-conditioner set-point (CommandServer).
//
// The same requests work against real EdgeX (core-metadata for registration,
// core-data for events) and against the hub's standalone ingest, which accepts them
// with a per-device bearer token.
package edgex

import (
	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
)

// Resource names the firmware reports; they are the reading contract's resources.
const (
	ResTemperature = "temperature"
	ResHumidity    = "humidity"
	ResSetpoint    = "setpoint"
	ResCPU         = "cpu"
	ResMem         = "mem"
	ResDisk        = "disk"
)

// Sources (EdgeX device commands) events come from.
const (
	// SourceRoom is the periodic event: climate, set-point and system readings.
	SourceRoom = "room"
	// SourceSetpoint is the event reporting a set-point change, named after the
	// resource as EdgeX names single-resource commands.
	SourceSetpoint = ResSetpoint
)

// Units of each resource, as sent in readings and in the profile.
var Units = map[string]string{
	ResTemperature: "C", ResHumidity: "%", ResSetpoint: "C",
	ResCPU: "%", ResMem: "%", ResDisk: "%",
}

// Profile is the device profile the firmware registers. Every Pi uses the same one,
// so a second Pi's registration meets 409 (already there) and replaces it with its own.
//
// core-command offers a command for every resource and device command of a profile
// that is not hidden, and the command endpoint (CommandServer) serves exactly those:
// the set-point (read and write) and the room command (read). The sensor and system
// resources are hidden: they reach the hub as events, not as commands.
func Profile(name string, setpointMin, setpointMax float64) dtos.DeviceProfile {
	res := func(name, rw, desc string, lo, hi float64) dtos.DeviceResource {
		return dtos.DeviceResource{
			Name: name, Description: desc, IsHidden: name != ResSetpoint,
			Properties: dtos.ResourceProperties{
				ValueType: common.ValueTypeFloat64, ReadWrite: rw, Units: Units[name],
				Minimum: &lo, Maximum: &hi,
			},
		}
	}
	ops := func(names ...string) []dtos.ResourceOperation {
		var o []dtos.ResourceOperation
		for _, n := range names {
			o = append(o, dtos.ResourceOperation{DeviceResource: n})
		}
		return o
	}
	return dtos.DeviceProfile{
		DeviceProfileBasicInfo: dtos.DeviceProfileBasicInfo{
			Name: name, Manufacturer: "SmartX", Model: "Pi DHT22 sensor with IR air-conditioner control",
			Description: "server-room sector sensor: climate, air-conditioner set-point and the Pi's own load",
			Labels:      []string{"smartx", "smart-energy"},
		},
		DeviceResources: []dtos.DeviceResource{
			res(ResTemperature, common.ReadWrite_R, "room temperature (DHT22)", -40, 80),
			res(ResHumidity, common.ReadWrite_R, "relative humidity (DHT22)", 0, 100),
			res(ResSetpoint, common.ReadWrite_RW, "air-conditioner set-point", setpointMin, setpointMax),
			res(ResCPU, common.ReadWrite_R, "CPU use of the Pi", 0, 100),
			res(ResMem, common.ReadWrite_R, "memory in use on the Pi", 0, 100),
			res(ResDisk, common.ReadWrite_R, "disk use on the Pi", 0, 100),
		},
		DeviceCommands: []dtos.DeviceCommand{{
			Name: SourceRoom, ReadWrite: common.ReadWrite_R,
			ResourceOperations: ops(ResTemperature, ResHumidity, ResSetpoint, ResCPU, ResMem, ResDisk),
		}},
	}
}

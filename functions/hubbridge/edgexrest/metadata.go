package edgexrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	dtoCommon "github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/responses"
	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/hubbridge/registry"
)

// addItems decodes an EdgeX add request, a JSON array of request objects, and answers
// 207 Multi-Status with one response per item, as core-metadata does. decode turns one
// raw item into its validated request (EdgeX's own UnmarshalJSON validates); add
// stores it and returns its status and id.
func addItems[T any](s *Server, w http.ResponseWriter, r *http.Request,
	decode func([]byte) (T, error),
	add func(ctx context.Context, r *http.Request, item T) (int, string, string),
	requestID func(T) string,
) {
	buf, err := s.readBody(w, r, maxMetadataBytes)
	defer s.putBuf(buf)
	if err != nil {
		s.bodyError(w, err, maxMetadataBytes)
		return
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		s.in.Reject(intake.ReasonMalformed)
		s.writeError(w, http.StatusBadRequest, string(intake.ReasonMalformed), "request body is not a JSON array of requests")
		return
	}
	if len(raw) == 0 {
		s.in.Reject(intake.ReasonInvalid)
		s.writeError(w, http.StatusBadRequest, string(intake.ReasonInvalid), "empty request array")
		return
	}
	answers := make([]dtoCommon.BaseWithIdResponse, len(raw))
	for i, item := range raw {
		req, err := decode(item)
		if err != nil {
			reason := classify(err)
			s.in.Reject(reason)
			answers[i] = dtoCommon.NewBaseWithIdResponse("", "invalid request: "+edgexMessage(err), http.StatusBadRequest, "")
			continue
		}
		status, id, msg := add(r.Context(), r, req)
		answers[i] = dtoCommon.NewBaseWithIdResponse(requestID(req), msg, status, id)
	}
	writeJSON(w, http.StatusMultiStatus, answers)
}

func unmarshalInto[T any](b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// registryStatus maps a registry error to the item's status and message.
func (s *Server) registryStatus(kind, name string, err error) (int, string) {
	switch {
	case err == nil:
		return http.StatusCreated, ""
	case errors.Is(err, registry.ErrExists):
		return http.StatusConflict, fmt.Sprintf("%s %q already exists", kind, name)
	case errors.Is(err, registry.ErrUnknownProfile), errors.Is(err, registry.ErrUnknownService):
		return http.StatusNotFound, err.Error()
	default:
		s.log.Error("register "+kind, "name", name, "err", err)
		return http.StatusInternalServerError, "registry unavailable; retry"
	}
}

func (s *Server) addProfiles(w http.ResponseWriter, r *http.Request) {
	addItems(s, w, r, unmarshalInto[requests.DeviceProfileRequest],
		func(ctx context.Context, _ *http.Request, req requests.DeviceProfileRequest) (int, string, string) {
			p := req.Profile
			if p.Id == "" {
				p.Id = uuid.NewString()
			}
			status, msg := s.registryStatus("device profile", p.Name, s.reg.AddProfile(ctx, p))
			return status, idIf(status, p.Id), msg
		},
		func(req requests.DeviceProfileRequest) string { return req.RequestId })
}

func (s *Server) addServices(w http.ResponseWriter, r *http.Request) {
	addItems(s, w, r, unmarshalInto[requests.AddDeviceServiceRequest],
		func(ctx context.Context, _ *http.Request, req requests.AddDeviceServiceRequest) (int, string, string) {
			d := req.Service
			if d.Id == "" {
				d.Id = uuid.NewString()
			}
			status, msg := s.registryStatus("device service", d.Name, s.reg.AddService(ctx, d))
			return status, idIf(status, d.Id), msg
		},
		func(req requests.AddDeviceServiceRequest) string { return req.RequestId })
}

// addDevices registers devices; with auth on, each item needs its own device's token.
func (s *Server) addDevices(w http.ResponseWriter, r *http.Request) {
	addItems(s, w, r, unmarshalInto[requests.AddDeviceRequest],
		func(ctx context.Context, r *http.Request, req requests.AddDeviceRequest) (int, string, string) {
			d := req.Device
			if t := s.tokens(); t != nil {
				if status, reason, msg := authStatus(t.check(d.Name, r.Header.Get("Authorization")), d.Name); status != 0 {
					s.in.Reject(reason)
					return status, "", msg
				}
			}
			if d.Id == "" {
				d.Id = uuid.NewString()
			}
			status, msg := s.registryStatus("device", d.Name, s.reg.AddDevice(ctx, d))
			return status, idIf(status, d.Id), msg
		},
		func(req requests.AddDeviceRequest) string { return req.RequestId })
}

// updateStatus maps a registry error of an update to the item's status and message.
func (s *Server) updateStatus(kind, name string, err error) (int, string) {
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, registry.ErrUnknownProfile), errors.Is(err, registry.ErrUnknownService):
		return http.StatusNotFound, err.Error()
	default:
		s.log.Error("update "+kind, "name", name, "err", err)
		return http.StatusInternalServerError, "registry unavailable; retry"
	}
}

// updateProfiles is core-metadata's PUT: it replaces registered profiles.
func (s *Server) updateProfiles(w http.ResponseWriter, r *http.Request) {
	addItems(s, w, r, unmarshalInto[requests.DeviceProfileRequest],
		func(ctx context.Context, _ *http.Request, req requests.DeviceProfileRequest) (int, string, string) {
			status, msg := s.updateStatus("device profile", req.Profile.Name, s.reg.UpdateProfile(ctx, req.Profile))
			return status, "", msg
		},
		func(req requests.DeviceProfileRequest) string { return req.RequestId })
}

// patchServices is core-metadata's PATCH of device services (a moved base address).
func (s *Server) patchServices(w http.ResponseWriter, r *http.Request) {
	addItems(s, w, r, unmarshalInto[requests.UpdateDeviceServiceRequest],
		func(ctx context.Context, _ *http.Request, req requests.UpdateDeviceServiceRequest) (int, string, string) {
			name := ""
			if req.Service.Name != nil {
				name = *req.Service.Name
			}
			status, msg := s.updateStatus("device service", name, s.reg.UpdateService(ctx, req.Service))
			return status, "", msg
		},
		func(req requests.UpdateDeviceServiceRequest) string { return req.RequestId })
}

// patchDevices is core-metadata's PATCH of devices; with auth on, each item needs its
// own device's token.
func (s *Server) patchDevices(w http.ResponseWriter, r *http.Request) {
	addItems(s, w, r, unmarshalInto[requests.UpdateDeviceRequest],
		func(ctx context.Context, r *http.Request, req requests.UpdateDeviceRequest) (int, string, string) {
			if req.Device.Name == nil {
				return http.StatusBadRequest, "", "a device update must name the device"
			}
			name := *req.Device.Name
			if t := s.tokens(); t != nil {
				if status, reason, msg := authStatus(t.check(name, r.Header.Get("Authorization")), name); status != 0 {
					s.in.Reject(reason)
					return status, "", msg
				}
			}
			status, msg := s.updateStatus("device", name, s.reg.UpdateDevice(ctx, req.Device))
			return status, "", msg
		},
		func(req requests.UpdateDeviceRequest) string { return req.RequestId })
}

// getService is core-metadata's "device service by name".
func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	d, err := s.reg.Service(r.Context(), r.PathValue("name"))
	switch {
	case errors.Is(err, registry.ErrNotFound):
		s.writeError(w, http.StatusNotFound, answerNotRegistered, fmt.Sprintf("device service %q not found", clipName(r.PathValue("name"))))
	case err != nil:
		s.log.Error("read device service", "err", err)
		s.writeError(w, http.StatusServiceUnavailable, answerRegistryDown, "registry unavailable; retry")
	default:
		writeJSON(w, http.StatusOK, responses.NewDeviceServiceResponse("", "", http.StatusOK, d))
	}
}

func idIf(status int, id string) string {
	if status == http.StatusCreated {
		return id
	}
	return ""
}

// getDevice is core-metadata's "device by name"; with auth on it needs the device's
// token, since the answer shows its registration.
func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.authorize(w, r, name) {
		return
	}
	d, err := s.reg.DeviceDTO(r.Context(), name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		s.writeError(w, http.StatusNotFound, string(intake.ReasonUnknownDevice), fmt.Sprintf("device %q not found", clipName(name)))
	case err != nil:
		s.log.Error("read device", "err", err)
		s.writeError(w, http.StatusServiceUnavailable, answerRegistryDown, "registry unavailable; retry")
	default:
		writeJSON(w, http.StatusOK, responses.NewDeviceResponse("", "", http.StatusOK, d))
	}
}

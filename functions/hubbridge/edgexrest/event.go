package edgexrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	dtoCommon "github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	edgexErrors "github.com/edgexfoundry/go-mod-core-contracts/v4/errors"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
)

// addEvent is core-data's "add event": auth, admission, device check, EdgeX decoding
// and validation, path check, then the intake; 201 once the good readings are
// durable. Every 503 says when to retry (Retry-After).
func (s *Server) addEvent(w http.ResponseWriter, r *http.Request) {
	profile, device, source := r.PathValue("profile"), r.PathValue("device"), r.PathValue("source")
	if !s.authorize(w, r, device) {
		discard(r)
		return
	}
	release, ok := s.adm.admit(r.Context())
	if !ok {
		discard(r)
		s.adm.setRetryAfter(w)
		s.writeError(w, http.StatusServiceUnavailable, answerOverloaded,
			fmt.Sprintf("the hub is handling its limit of %d events; retry after the seconds in Retry-After", s.opts.MaxInFlight))
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
	defer cancel()

	dev, known, err := s.reg.Device(ctx, device)
	if err != nil {
		s.log.Error("look up device", "err", err)
		s.adm.setRetryAfter(w)
		s.writeError(w, http.StatusServiceUnavailable, answerRegistryDown, "device registry unavailable; retry")
		return
	}
	if !known {
		s.in.Reject(intake.ReasonUnknownDevice)
		discard(r)
		s.writeError(w, http.StatusNotFound, string(intake.ReasonUnknownDevice), fmt.Sprintf("unknown device %q: register it (POST /api/v3/device) first", device))
		return
	}

	buf, err := s.readBody(w, r, s.opts.MaxBodyBytes)
	defer s.putBuf(buf)
	if err != nil {
		s.bodyError(w, err, s.opts.MaxBodyBytes)
		return
	}
	req, reason, msg := s.dec.decode(buf.Bytes(), r.Header.Get("Content-Type"))
	if reason != "" {
		s.in.Reject(reason)
		s.writeError(w, http.StatusBadRequest, string(reason), msg)
		return
	}
	ev := req.Event
	if ev.ProfileName != profile || ev.DeviceName != device || ev.SourceName != source {
		s.in.Reject(intake.ReasonPathMismatch)
		s.writeError(w, http.StatusBadRequest, string(intake.ReasonPathMismatch), fmt.Sprintf("the URL names profile %q, device %q, source %q but the event %q, %q, %q",
			profile, device, source, clipName(ev.ProfileName), clipName(ev.DeviceName), clipName(ev.SourceName)))
		return
	}

	res, err := s.in.Accept(ctx, ev, dev.Location)
	if err != nil {
		s.adm.setRetryAfter(w)
		switch {
		case r.Context().Err() != nil: // the client went away; nobody reads the answer
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			s.writeError(w, http.StatusServiceUnavailable, answerOverloaded,
				fmt.Sprintf("readings not stored within %s; retry after the seconds in Retry-After", s.opts.StoreTimeout))
			return
		default:
			s.log.Error("store event", "device", device, "err", err)
		}
		s.writeError(w, http.StatusServiceUnavailable, answerStoreFailed, "readings not stored; retry")
		return
	}
	if res.Accepted() == 0 {
		s.writeError(w, http.StatusUnprocessableEntity, answerNothingAccepted, res.Message())
		return
	}
	writeJSON(w, http.StatusCreated, dtoCommon.NewBaseWithIdResponse(req.RequestId, res.Message(), http.StatusCreated, ev.Id))
}

// decodeEvent decodes and validates an AddEventRequest with EdgeX's own code (JSON
// through eventJSON, or CBOR when the content type says so). reason is empty on
// success; else msg says why.
func decodeEvent(body []byte, contentType string) (requests.AddEventRequest, intake.Reason, string) {
	var req requests.AddEventRequest
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == common.ContentTypeCBOR {
		if err := req.UnmarshalCBOR(body); err != nil {
			return req, classify(err), "invalid CBOR event: " + edgexMessage(err)
		}
		return req, "", ""
	}
	unmarshal := unmarshalEvent
	if !plainText(body) {
		unmarshal = json.Unmarshal
	}
	if err := req.Unmarshal(body, unmarshal); err != nil {
		reason := classify(err)
		if reason == intake.ReasonMalformed {
			return req, reason, "request body is not an EdgeX event in JSON: " + edgexMessage(err)
		}
		return req, reason, "invalid event: " + edgexMessage(err)
	}
	return req, "", ""
}

// classify tells a body of bad syntax or of the wrong shape (a string where a number
// goes) from one that decodes but fails EdgeX's validation.
func classify(err error) intake.Reason {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	if isDecodeError(err) || errors.As(err, &typeErr) || errors.As(err, &syntaxErr) {
		return intake.ReasonMalformed
	}
	return intake.ReasonInvalid
}

// edgexMessage is the useful part of an EdgeX error: its message and its cause, short.
func edgexMessage(err error) string {
	var ee edgexErrors.CommonEdgeX
	msg := err.Error()
	if errors.As(err, &ee) {
		msg = ee.Message()
		if c := errors.Unwrap(ee); c != nil && c.Error() != msg {
			msg += ": " + c.Error()
		}
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// authorize checks the device's bearer token when auth is on, answering 401/403 itself.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, device string) bool {
	t := s.tokens()
	if t == nil {
		return true
	}
	status, reason, msg := authStatus(t.check(device, r.Header.Get("Authorization")), device)
	if status == 0 {
		return true
	}
	s.in.Reject(reason)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="smartx-hub"`)
	}
	s.writeError(w, status, string(reason), msg)
	return false
}

// authStatus maps a token check to an HTTP status (0 = allowed), reason and message.
// The message never contains the token.
func authStatus(a authResult, device string) (int, intake.Reason, string) {
	switch a {
	case authOK:
		return 0, "", ""
	case authMissing:
		return http.StatusUnauthorized, intake.ReasonUnauthorized, fmt.Sprintf("device %q needs its bearer token (Authorization: Bearer <token>)", clipName(device))
	case authWrong:
		return http.StatusUnauthorized, intake.ReasonUnauthorized, fmt.Sprintf("wrong token for device %q", clipName(device))
	default:
		return http.StatusForbidden, intake.ReasonForbidden, fmt.Sprintf("device %q has no token on this hub", clipName(device))
	}
}

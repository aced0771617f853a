package edgexrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/hubbridge/registry"
)

// The core-command subset: in standalone mode the hub answers what EdgeX's
// core-command would, so that the controller (and an operator with curl) is the same
// in both modes.
//
//	GET /api/v3/device/name/{name}/{command}
//	PUT /api/v3/device/name/{name}/{command}   {"<resource>": "<value>", ...}
//
// Like core-command, the hub looks up the device's device service and sends the same
// request to {service base address}/api/v3/device/name/{name}/{command}, the
// firmware's command endpoint, and passes the answer back. The Authorization header
// goes along: the Pi checks its own command token.

// Why a command got a non-2xx answer (reason label of hub_http_errors_total).
const (
	answerBadCommand    = "bad_command"        // 400: a PUT body that is not a JSON object of strings
	answerNoService     = "no_device_service"  // 404: the device's service is not registered or has no address
	answerDeviceDown    = "device_unreachable" // 503: the device's command endpoint did not answer
	answerDeviceTimeout = "device_timeout"     // 504: the device's command endpoint answered too late
	answerDeviceAnswer  = "device_answer"      // the device's own non-2xx answer, passed back with its status
)

// deviceAnswers are the non-2xx statuses the firmware's command endpoint answers with
// (device/edgex): their device_answer series exist from the start. Another status
// (a proxy's 502, say) is counted too, from its first answer.
var deviceAnswers = []int{
	http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed,
	http.StatusInternalServerError, http.StatusServiceUnavailable,
}

// defaultCommandTimeout bounds one forwarded command (an infra-red send takes well
// under 1 s).
const defaultCommandTimeout = 10 * time.Second

// maxCommandBytes bounds a command body and a device's answer.
const maxCommandBytes = 64 << 10

func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	name, cmd := r.PathValue("name"), r.PathValue("command")
	var body []byte
	if r.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxCommandBytes+1))
		if err != nil {
			s.writeError(w, http.StatusBadRequest, answerBadCommand, "read body: "+err.Error())
			return
		}
		if len(b) > maxCommandBytes {
			s.writeError(w, http.StatusRequestEntityTooLarge, string(intake.ReasonTooLarge), fmt.Sprintf("command body over %d bytes", maxCommandBytes))
			return
		}
		var values map[string]string
		if err := json.Unmarshal(b, &values); err != nil || len(values) == 0 {
			s.writeError(w, http.StatusBadRequest, answerBadCommand, `command body: want a JSON object of resource names to string values, e.g. {"setpoint": "24"}`)
			return
		}
		body = b
	}
	d, ok, err := s.reg.Device(r.Context(), name)
	switch {
	case err != nil:
		s.log.Error("read device", "err", err)
		s.writeError(w, http.StatusServiceUnavailable, answerRegistryDown, "registry unavailable; retry")
		return
	case !ok:
		s.writeError(w, http.StatusNotFound, string(intake.ReasonUnknownDevice), fmt.Sprintf("device %q is not registered", clipName(name)))
		return
	}
	svc, err := s.reg.Service(r.Context(), d.Service)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		s.writeError(w, http.StatusNotFound, answerNoService, fmt.Sprintf("device %q: its device service %q is not registered", clipName(name), d.Service))
		return
	case err != nil:
		s.log.Error("read device service", "err", err)
		s.writeError(w, http.StatusServiceUnavailable, answerRegistryDown, "registry unavailable; retry")
		return
	}
	base, err := url.Parse(svc.BaseAddress)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		s.writeError(w, http.StatusNotFound, answerNoService, fmt.Sprintf("device %q: its device service %q has no usable base address (%q)", clipName(name), d.Service, svc.BaseAddress))
		return
	}
	target := strings.TrimSuffix(svc.BaseAddress, "/") + "/api/v3/device/name/" + url.PathEscape(name) + "/" + url.PathEscape(cmd)
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CommandTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		s.writeError(w, http.StatusNotFound, answerNoService, err.Error())
		return
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			s.writeError(w, http.StatusGatewayTimeout, answerDeviceTimeout, fmt.Sprintf("device %q at %s did not answer within %s", clipName(name), base.Host, s.opts.CommandTimeout))
			return
		}
		s.writeError(w, http.StatusServiceUnavailable, answerDeviceDown, fmt.Sprintf("device %q at %s is unreachable: %v", clipName(name), base.Host, errors.Unwrap(err)))
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxCommandBytes))
	if err != nil {
		s.writeError(w, http.StatusServiceUnavailable, answerDeviceDown, fmt.Sprintf("device %q: reading its answer: %v", clipName(name), err))
		return
	}
	s.log.Info("command forwarded", "device", name, "command", cmd, "method", r.Method, "status", resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The device's refusal goes back as it is, but it is a failed command all the
		// same: counted with the hub's own non-2xx answers, so one metric shows them all.
		s.errors.WithLabelValues(strconv.Itoa(resp.StatusCode), answerDeviceAnswer).Inc()
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

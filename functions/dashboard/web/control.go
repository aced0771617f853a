package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/dashboard/auth"
	"github.com/smartx-team/overcloud/functions/dashboard/control"
)

// Reasons a control request is refused before it reaches the controller; each is
// counted in dashboard_control_rejected_total.
const (
	rejectNoSession    = "no_session"
	rejectCSRF         = "csrf"
	rejectOrigin       = "origin"
	rejectReplayed     = "replayed"
	rejectExpiredForm  = "expired_form"
	rejectBadForm      = "bad_form"
	rejectUnknown      = "unknown_device"
	rejectOutOfRange   = "out_of_range"
	rejectNoSetpoint   = "no_setpoint"
	rejectNoOverride   = "no_override"
	rejectNoController = "controller_unreachable"
)

var rejectReasons = []string{rejectNoSession, rejectCSRF, rejectOrigin, rejectReplayed, rejectExpiredForm, rejectBadForm,
	rejectUnknown, rejectOutOfRange, rejectNoSetpoint, rejectNoOverride, rejectNoController}

// answer is the control endpoint's JSON answer.
type answer struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// control answers POST /ac/{device}: form fields csrf (or header X-CSRF-Token), form
// (the one-time form token), action (up, down, set or cancel), setpoint (for set) and
// hours (the override's length; the controller's default if absent). A script asks
// for JSON (Accept: application/json); a plain form post is redirected back to the
// panel with the outcome.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	device := r.PathValue("device")
	var sess auth.Session
	refuse := func(status int, reason, msg string) {
		s.rejected.WithLabelValues(reason).Inc()
		s.log.Warn("control refused", "user", sess.User, "device", device, "reason", reason, "msg", msg)
		s.reply(w, r, sess, status, answer{Message: msg})
	}
	sess, ok := s.session(r)
	if !ok {
		refuse(http.StatusUnauthorized, rejectNoSession, "Not logged in: log in again.")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
		refuse(http.StatusForbidden, rejectOrigin, "Refused: the request came from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, rejectBadForm, "The form could not be read.")
		return
	}
	csrf := r.Header.Get("X-CSRF-Token")
	if csrf == "" {
		csrf = r.PostForm.Get("csrf")
	}
	if !s.sessions.CheckCSRF(sess.ID, csrf) {
		refuse(http.StatusForbidden, rejectCSRF, "Refused: the form's security token is wrong. Reload the page.")
		return
	}
	switch err := s.sessions.UseForm(sess.ID, r.PostForm.Get("form")); {
	case errors.Is(err, auth.ErrFormReplayed):
		refuse(http.StatusConflict, rejectReplayed, "Refused: "+err.Error()+".")
		return
	case err != nil:
		refuse(http.StatusConflict, rejectExpiredForm, "Refused: "+err.Error()+".")
		return
	}
	action := r.PostForm.Get("action")
	var hours time.Duration
	if h := strings.TrimSpace(r.PostForm.Get("hours")); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 1 || n > 24 {
			refuse(http.StatusBadRequest, rejectBadForm, fmt.Sprintf("The override's length %q is not 1 to 24 hours.", h))
			return
		}
		hours = time.Duration(n) * time.Hour
	}
	if action != "up" && action != "down" && action != "set" && action != "cancel" {
		refuse(http.StatusBadRequest, rejectBadForm, fmt.Sprintf("Unknown action %q: want up, down, set or cancel.", action))
		return
	}
	ctx := r.Context()
	st, err := s.o.Controller.State(ctx)
	if err != nil {
		refuse(http.StatusServiceUnavailable, rejectNoController, "The controller does not answer; nothing was changed.")
		return
	}
	dev, ok := st.Find(device)
	if !ok {
		refuse(http.StatusNotFound, rejectUnknown, fmt.Sprintf("Unknown air conditioner %q.", device))
		return
	}
	if action == "cancel" {
		if dev.Override == nil {
			refuse(http.StatusConflict, rejectNoOverride, fmt.Sprintf("%s has no manual set-point to end.", device))
			return
		}
		err := s.o.Controller.Cancel(ctx, device, sess.User, "ended on the dashboard")
		s.done(w, r, sess, device, action, dev.Current, nil, err, fmt.Sprintf("%s is back under automatic control.", device))
		return
	}
	var target float64
	switch action {
	case "up", "down":
		if dev.Current == nil {
			refuse(http.StatusConflict, rejectNoSetpoint, fmt.Sprintf("The set-point of %s is not known yet: use Set.", device))
			return
		}
		target = *dev.Current + 1
		if action == "down" {
			target = *dev.Current - 1
		}
	case "set":
		v := strings.TrimSpace(r.PostForm.Get("setpoint"))
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
			refuse(http.StatusBadRequest, rejectBadForm, fmt.Sprintf("Set-point %q is not a whole number of degrees.", v))
			return
		}
		target = f
	}
	if target < st.Limits.Min || target > st.Limits.Max {
		refuse(http.StatusBadRequest, rejectOutOfRange, fmt.Sprintf("%g °C is outside the allowed %g–%g °C; nothing was changed.", target, st.Limits.Min, st.Limits.Max))
		return
	}
	reason := "set on the dashboard"
	switch action {
	case "up":
		reason = "▲ on the dashboard"
	case "down":
		reason = "▼ on the dashboard"
	}
	err = s.o.Controller.Set(ctx, device, control.Manual{Setpoint: target, User: sess.User, Reason: reason, Duration: hours})
	s.done(w, r, sess, device, action, dev.Current, &target, err, fmt.Sprintf("%s set to %g °C by %s.", device, target, sess.User))
}

// done answers a control request the controller has seen, and logs it with the user.
func (s *Server) done(w http.ResponseWriter, r *http.Request, sess auth.Session, device, action string, old, target *float64, err error, okMsg string) {
	if err == nil {
		s.controls.WithLabelValues(action, "ok").Inc()
		s.log.Info("control", "user", sess.User, "device", device, "action", action, "old", old, "new", target)
		s.reply(w, r, sess, http.StatusOK, answer{OK: true, Message: okMsg})
		return
	}
	status := control.Status(err)
	s.controls.WithLabelValues(action, "failed").Inc()
	s.log.Warn("control failed", "user", sess.User, "device", device, "action", action, "old", old, "new", target, "err", err)
	var e *control.Error
	msg := "The controller does not answer; nothing was changed."
	if errors.As(err, &e) {
		msg = "The controller refused: " + e.Message
		if status == http.StatusBadGateway {
			msg = "The air conditioner did not take it: " + e.Message
		}
	}
	if status == 0 || status >= 500 && status != http.StatusBadGateway {
		status = http.StatusServiceUnavailable
	}
	s.reply(w, r, sess, status, answer{Message: msg})
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, sess auth.Session, status int, a answer) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(a)
		return
	}
	// A plain form post: back to the panel, which shows the outcome once.
	if sess.ID == "" {
		http.Redirect(w, r, "/login?next=%2Fac", http.StatusSeeOther)
		return
	}
	{
		s.flashMu.Lock()
		s.flashes[sess.ID] = a.Message
		s.flashMu.Unlock()
	}
	http.Redirect(w, r, "/ac", http.StatusSeeOther)
}

// sameOrigin says whether an Origin header names this server.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// takeFlash returns and forgets the outcome of session id's last plain form post.
func (s *Server) takeFlash(id string) string {
	s.flashMu.Lock()
	defer s.flashMu.Unlock()
	m := s.flashes[id]
	delete(s.flashes, id)
	return m
}

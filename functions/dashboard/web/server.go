// Package web is the dashboard's HTTP side: login and sessions, the four views (room,
// air-conditioner panel, racks, pipeline health) rendered on the server from embedded
// templates, their fragments that the page's small script fetches to update itself
// without a reload, the charts as SVG, and the control endpoint that turns ▲ ▼ and
// set into the controller's manual set-points.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/dashboard/auth"
	"github.com/smartx-team/overcloud/functions/dashboard/control"
	"github.com/smartx-team/overcloud/functions/dashboard/pipeline"
	"github.com/smartx-team/overcloud/functions/dashboard/room"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Room is where readings come from (package room).
type Room interface {
	Latest(ctx context.Context, lookback time.Duration) ([]room.Device, error)
	Series(ctx context.Context, q room.SeriesQuery) ([]room.Series, error)
	Earliest(ctx context.Context, fields []string, rng time.Duration) (time.Time, error)
}

// Controller is the controller's API (package control).
type Controller interface {
	State(ctx context.Context) (control.State, error)
	Set(ctx context.Context, device string, m control.Manual) error
	Cancel(ctx context.Context, device, user, reason string) error
	Audit(ctx context.Context, device string, limit int) ([]control.Entry, error)
}

// Pipeline gives the data path's health (package pipeline).
type Pipeline interface {
	Health() pipeline.Health
}

// Limits colour the room when the controller cannot be asked for its own.
type Limits struct {
	TempLimit, Ceiling, RHMin, RHMax float64
}

// Options configure a Server. Users, Room, Controller and Pipeline are required.
type Options struct {
	Users      *auth.Users
	Room       Room
	Controller Controller
	Pipeline   Pipeline
	// Limits are used while the controller does not answer (default 27 C, ceiling
	// 26.5 C, 20..80 % RH: the controller's defaults).
	Limits Limits
	// Stale flags a device with no point for this long (default 5m).
	Stale time.Duration
	// Refresh is how often the page updates itself (default 5s).
	Refresh time.Duration
	// SessionTTL and SessionIdle end sessions (default 12h and 1h).
	SessionTTL, SessionIdle time.Duration
	// CookieSecure: "auto" (default) marks the session cookie Secure when the request
	// came over TLS, directly or through a proxy that says so (X-Forwarded-Proto);
	// "always" or "never".
	CookieSecure string
	// Location of the times shown (default UTC).
	Location *time.Location
	// Timeout bounds each page's queries (default 10s).
	Timeout    time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server is the dashboard's handler. Create it with New.
type Server struct {
	o         Options
	log       *slog.Logger
	sessions  *auth.Store
	perUser   *auth.Limiter
	perClient *auth.Limiter
	pages     *template.Template
	mux       *http.ServeMux

	flashMu sync.Mutex
	flashes map[string]string

	logins   *prometheus.CounterVec
	controls *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// The session cookie, and the cookie that carries the login form's CSRF token.
const (
	sessionCookie = "smartx_session"
	loginCookie   = "smartx_login"
)

// New returns a server.
func New(o Options) (*Server, error) {
	if o.Users == nil || o.Room == nil || o.Controller == nil || o.Pipeline == nil {
		return nil, errors.New("web: Users, Room, Controller and Pipeline are required")
	}
	if o.Limits == (Limits{}) {
		o.Limits = Limits{TempLimit: 27, Ceiling: 26.5, RHMin: 20, RHMax: 80}
	}
	durOr := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	durOr(&o.Stale, 5*time.Minute)
	durOr(&o.Refresh, 5*time.Second)
	durOr(&o.SessionTTL, 12*time.Hour)
	durOr(&o.SessionIdle, time.Hour)
	durOr(&o.Timeout, 10*time.Second)
	switch o.CookieSecure {
	case "":
		o.CookieSecure = "auto"
	case "auto", "always", "never":
	default:
		return nil, fmt.Errorf("web: CookieSecure %q: want auto, always or never", o.CookieSecure)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	pages, err := template.New("").Funcs(funcs(o.Location)).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	s := &Server{
		o: o, log: o.Logger, pages: pages, mux: http.NewServeMux(), flashes: map[string]string{},
		sessions: auth.NewStore(o.SessionTTL, o.SessionIdle),
		// Five tries per user name, then one every 12 s; a client address gets more,
		// since operators may share one behind a proxy.
		perUser:   auth.NewLimiter(5, 12*time.Second),
		perClient: auth.NewLimiter(20, 3*time.Second),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_logins_total", Help: "Login attempts, by result (ok, wrong, limited, bad_form).",
		}, []string{"result"}),
		controls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_controls_total", Help: "Set-point changes sent to the controller, by action and result.",
		}, []string{"action", "result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_control_rejected_total", Help: "Control requests refused before reaching the controller, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{"ok", "wrong", "limited", "bad_form"} {
		s.logins.WithLabelValues(r)
	}
	for _, r := range rejectReasons {
		s.rejected.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{s.logins, s.controls, s.rejected} {
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("web metrics: %w", err)
		}
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
	for _, v := range views {
		s.mux.HandleFunc("GET "+v.Path, s.page(v))
	}
	s.mux.HandleFunc("GET /part/{view}", s.part)
	s.mux.HandleFunc("GET /chart/{chart}", s.chart)
	s.mux.HandleFunc("POST /ac/{device}", s.control)
	return s, nil
}

// Handler is the server's handler, with the security headers on every answer.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if s.secure(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		s.mux.ServeHTTP(w, r)
	})
}

// secure says whether the session cookie must be Secure for r.
func (s *Server) secure(r *http.Request) bool {
	switch s.o.CookieSecure {
	case "always":
		return true
	case "never":
		return false
	}
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// session returns r's session, if it has a live one.
func (s *Server) session(r *http.Request) (auth.Session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return auth.Session{}, false
	}
	return s.sessions.Get(c.Value)
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge / time.Second),
	})
}

// clientOf is the address a login attempt came from, for its rate limit.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// localPath keeps a redirect target on this site: a path, never another host.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

type loginData struct {
	Error, Next, CSRF, User string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginData{Next: localPath(r.URL.Query().Get("next"))})
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	d.CSRF = auth.Token()
	s.setCookie(w, r, loginCookie, d.CSRF, 30*time.Minute)
	s.render(w, status, "login", d)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		s.logins.WithLabelValues("bad_form").Inc()
		s.renderLogin(w, r, http.StatusBadRequest, loginData{Error: "The form could not be read."})
		return
	}
	user, next := strings.TrimSpace(r.PostForm.Get("user")), localPath(r.PostForm.Get("next"))
	c, err := r.Cookie(loginCookie)
	if err != nil || !auth.Equal(c.Value, r.PostForm.Get("csrf")) {
		s.logins.WithLabelValues("bad_form").Inc()
		s.renderLogin(w, r, http.StatusForbidden, loginData{Error: "The login form expired. Please try again.", Next: next, User: user})
		return
	}
	okUser, waitUser := s.perUser.Allow("user:" + user)
	okClient, waitClient := s.perClient.Allow("client:" + clientOf(r))
	if !okUser || !okClient {
		wait := max(waitUser, waitClient)
		s.logins.WithLabelValues("limited").Inc()
		s.log.Warn("login rate-limited", "user", user, "client", clientOf(r))
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		s.renderLogin(w, r, http.StatusTooManyRequests, loginData{
			Error: fmt.Sprintf("Too many login attempts. Try again in %d s.", int(wait.Seconds())+1), Next: next, User: user})
		return
	}
	if !s.o.Users.Check(user, r.PostForm.Get("password")) {
		s.logins.WithLabelValues("wrong").Inc()
		s.log.Warn("login failed", "user", user, "client", clientOf(r))
		s.renderLogin(w, r, http.StatusUnauthorized, loginData{Error: "Wrong user name or password.", Next: next, User: user})
		return
	}
	sess := s.sessions.New(user)
	s.logins.WithLabelValues("ok").Inc()
	s.log.Info("login", "user", user, "client", clientOf(r))
	s.setCookie(w, r, sessionCookie, sess.ID, s.o.SessionTTL)
	s.setCookie(w, r, loginCookie, "", -time.Second)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess, ok := s.session(r); ok {
		_ = r.ParseForm()
		if !s.sessions.CheckCSRF(sess.ID, r.PostForm.Get("csrf")) {
			http.Error(w, "bad or missing CSRF token", http.StatusForbidden)
			return
		}
		s.sessions.Delete(sess.ID)
		s.log.Info("logout", "user", sess.User)
	}
	s.setCookie(w, r, sessionCookie, "", -time.Second)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf strings.Builder
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render", "template", name, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

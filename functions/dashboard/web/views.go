package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/dashboard/auth"
	"github.com/smartx-team/overcloud/functions/dashboard/charts"
	"github.com/smartx-team/overcloud/functions/dashboard/control"
	"github.com/smartx-team/overcloud/functions/dashboard/pipeline"
	"github.com/smartx-team/overcloud/functions/dashboard/room"
)

// view is one of the dashboard's pages; its fragment template is "part-<Name>".
type view struct {
	Name, Path, Title string
}

var views = []view{
	{Name: "room", Path: "/{$}", Title: "Server room"},
	{Name: "ac", Path: "/ac", Title: "Air conditioners"},
	{Name: "racks", Path: "/racks", Title: "Racks"},
	{Name: "health", Path: "/health", Title: "Pipeline"},
}

func viewNamed(name string) (view, bool) {
	for _, v := range views {
		if v.Name == name {
			return v, true
		}
	}
	return view{}, false
}

// ranges are the chart ranges offered; the first is the default.
var ranges = []struct {
	Key string
	D   time.Duration
}{{"6h", 6 * time.Hour}, {"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

func rangeOf(r *http.Request) (string, time.Duration) {
	k := r.URL.Query().Get("range")
	for _, rg := range ranges {
		if rg.Key == k {
			return rg.Key, rg.D
		}
	}
	return ranges[0].Key, ranges[0].D
}

// pageData is what every page and fragment gets.
type pageData struct {
	View    view
	Views   []view
	User    string
	CSRF    string
	Refresh int
	Range   string
	Ranges  []string
	Now     time.Time
	// Problems are what could not be read, said on the page instead of figures.
	Problems []string
	Flash    string

	Room   *roomData
	AC     *acData
	Racks  *racksData
	Health *pipeline.Health
}

func (s *Server) page(v view) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.session(r)
		if !ok {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		d := s.data(r, v, sess)
		d.Flash = s.takeFlash(sess.ID)
		s.render(w, http.StatusOK, "page", d)
	}
}

func (s *Server) part(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.session(r)
	if !ok {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	v, ok := viewNamed(r.PathValue("view"))
	if !ok {
		http.Error(w, "no such view", http.StatusNotFound)
		return
	}
	s.render(w, http.StatusOK, "part-"+v.Name, s.data(r, v, sess))
}

// data gathers what view v shows.
func (s *Server) data(r *http.Request, v view, sess auth.Session) pageData {
	ctx, cancel := context.WithTimeout(r.Context(), s.o.Timeout)
	defer cancel()
	rk, _ := rangeOf(r)
	d := pageData{View: v, Views: views, User: sess.User, CSRF: sess.CSRF, Refresh: int(s.o.Refresh / time.Second),
		Range: rk, Now: time.Now()}
	for _, rg := range ranges {
		d.Ranges = append(d.Ranges, rg.Key)
	}
	problem := func(what string, err error) {
		d.Problems = append(d.Problems, fmt.Sprintf("%s: %v", what, err))
	}
	switch v.Name {
	case "room":
		devices, err := s.o.Room.Latest(ctx, 24*time.Hour)
		if err != nil {
			problem("InfluxDB", err)
		}
		st, err := s.o.Controller.State(ctx)
		if err != nil {
			d.Problems = append(d.Problems, "The controller does not answer, so the limits shown are the defaults.")
			s.log.Debug("controller state", "err", err)
		}
		d.Room = s.roomData(devices, st, err == nil, d.Now)
	case "ac":
		devices, err := s.o.Room.Latest(ctx, 24*time.Hour)
		if err != nil {
			problem("InfluxDB", err)
		}
		st, err := s.o.Controller.State(ctx)
		if err != nil {
			problem("controller", err)
		}
		var entries []control.Entry
		if err == nil {
			if entries, err = s.o.Controller.Audit(ctx, "", 20); err != nil {
				problem("audit trail", err)
			}
		}
		d.AC = s.acData(sess, devices, st, entries)
	case "racks":
		devices, err := s.o.Room.Latest(ctx, 7*24*time.Hour)
		if err != nil {
			problem("InfluxDB", err)
		}
		d.Racks = s.racksData(devices, d.Now)
	case "health":
		h := s.o.Pipeline.Health()
		d.Health = &h
	}
	return d
}

// figure is a number that may be unknown.
type figure struct {
	V     float64
	Known bool
}

func known(v float64) figure { return figure{V: v, Known: true} }

func valueOf(d room.Device, field string) figure {
	if v, ok := d.Get(field); ok {
		return known(v.V)
	}
	return figure{}
}

func mean(fs []figure) figure {
	var sum float64
	n := 0
	for _, f := range fs {
		if f.Known {
			sum += f.V
			n++
		}
	}
	if n == 0 {
		return figure{}
	}
	return known(sum / float64(n))
}

// sector is one cell of the room grid.
type sector struct {
	Device, Location string
	Temperature      figure
	Humidity         figure
	// Class colours the cell: ok, warn (at the controller's ceiling, or humidity out
	// of range), alarm (above the limit) or stale.
	Class, Status string
	LastSeen      time.Time
}

type roomData struct {
	Sectors                     []sector
	AvgTemp, AvgRH              figure
	OutTemp, OutRH              figure
	Weather                     string
	Limits                      Limits
	FromController              bool
	AvgSetpoint, AvgRecommended figure
}

// weatherNames are the original's weather_stat codes (see the sender's README).
var weatherNames = map[int]string{1: "Thunderstorm", 2: "Drizzle", 3: "Rain", 4: "Snow", 5: "Atmosphere", 6: "Clear", 7: "Clouds", 8: "Mist", 9: "Haze"}

func (s *Server) limitsOf(st control.State, ok bool) (Limits, bool) {
	if ok && st.Limits.TempLimit > 0 {
		return Limits{TempLimit: st.Limits.TempLimit, Ceiling: st.Limits.Ceiling, RHMin: st.Limits.RHMin, RHMax: st.Limits.RHMax}, true
	}
	return s.o.Limits, false
}

func (s *Server) roomData(devices []room.Device, st control.State, stOK bool, now time.Time) *roomData {
	rd := &roomData{}
	rd.Limits, rd.FromController = s.limitsOf(st, stOK)
	var temps, rhs, outT, outRH, sps, recs []figure
	weather := figure{}
	for _, d := range devices {
		t, h := valueOf(d, room.Temperature), valueOf(d, room.Humidity)
		if !t.Known && !h.Known {
			continue // a device that senses nothing (no DHT22) has no sector cell
		}
		sec := sector{Device: d.Name, Location: or(d.Location, d.Name), Temperature: t, Humidity: h, LastSeen: d.LastSeen}
		switch {
		case now.Sub(d.LastSeen) > s.o.Stale:
			sec.Class, sec.Status = "stale", "no reading since "+d.LastSeen.In(s.o.Location).Format("Jan 2 15:04")
		case t.Known && t.V > rd.Limits.TempLimit:
			sec.Class, sec.Status = "alarm", fmt.Sprintf("above the %g °C limit", rd.Limits.TempLimit)
		case t.Known && t.V >= rd.Limits.Ceiling:
			sec.Class, sec.Status = "warn", fmt.Sprintf("at the %g °C ceiling", rd.Limits.Ceiling)
		case h.Known && (h.V < rd.Limits.RHMin || h.V > rd.Limits.RHMax):
			sec.Class, sec.Status = "warn", fmt.Sprintf("humidity outside %g–%g %%", rd.Limits.RHMin, rd.Limits.RHMax)
		default:
			sec.Class, sec.Status = "ok", "within limits"
		}
		rd.Sectors = append(rd.Sectors, sec)
		if sec.Class != "stale" {
			temps, rhs = append(temps, t), append(rhs, h)
			outT, outRH = append(outT, valueOf(d, room.ExtTemperature)), append(outRH, valueOf(d, room.ExtHumidity))
			sps, recs = append(sps, valueOf(d, room.Setpoint)), append(recs, valueOf(d, room.Recommended))
			if w := valueOf(d, room.WeatherStat); w.Known {
				weather = w
			}
		}
	}
	rd.AvgTemp, rd.AvgRH, rd.OutTemp, rd.OutRH = mean(temps), mean(rhs), mean(outT), mean(outRH)
	rd.AvgSetpoint, rd.AvgRecommended = mean(sps), mean(recs)
	if weather.Known {
		rd.Weather = or(weatherNames[int(weather.V)], fmt.Sprintf("code %g", weather.V))
	}
	return rd
}

// airConditioner is one card of the control panel.
type airConditioner struct {
	control.Device
	Reported   figure
	ReportedAt time.Time
	Min, Max   float64
	Form       string
	Up, Down   figure
}

type acData struct {
	ACs       []airConditioner
	Audit     []control.Entry
	Durations []int
	Ready     bool
	DryRun    bool
	Model     *control.Model
}

func (s *Server) acData(sess auth.Session, devices []room.Device, st control.State, entries []control.Entry) *acData {
	ad := &acData{Audit: entries, Durations: []int{1, 2, 4, 8, 24}, Ready: st.Ready, DryRun: st.DryRun, Model: st.Model}
	byName := map[string]room.Device{}
	for _, d := range devices {
		byName[d.Name] = d
	}
	for _, dev := range st.Devices {
		ac := airConditioner{Device: dev, Min: st.Limits.Min, Max: st.Limits.Max, Form: s.sessions.IssueForm(sess.ID)}
		if d, ok := byName[dev.Device]; ok {
			if v, ok := d.Get(room.Setpoint); ok {
				ac.Reported, ac.ReportedAt = known(v.V), v.T
			}
			if ac.Location == "" {
				ac.Location = d.Location
			}
		}
		if dev.Current != nil {
			if up := *dev.Current + 1; up <= st.Limits.Max {
				ac.Up = known(up)
			}
			if down := *dev.Current - 1; down >= st.Limits.Min {
				ac.Down = known(down)
			}
		}
		ad.ACs = append(ad.ACs, ac)
	}
	return ad
}

type rack struct {
	Device, Location string
	CPU, Mem, Disk   figure
	LastSeen         time.Time
	Stale            bool
}

type racksData struct {
	Racks                   []rack
	AvgCPU, AvgMem, AvgDisk figure
	Stale                   int
	StaleAfter              time.Duration
}

func (s *Server) racksData(devices []room.Device, now time.Time) *racksData {
	rd := &racksData{StaleAfter: s.o.Stale}
	var cpu, mem, disk []figure
	for _, d := range devices {
		rk := rack{Device: d.Name, Location: d.Location, CPU: valueOf(d, room.CPU), Mem: valueOf(d, room.Mem), Disk: valueOf(d, room.Disk), LastSeen: d.LastSeen}
		if !rk.CPU.Known && !rk.Mem.Known && !rk.Disk.Known {
			continue // not a rack Pi
		}
		rk.Stale = now.Sub(d.LastSeen) > s.o.Stale
		if rk.Stale {
			rd.Stale++
		} else {
			cpu, mem, disk = append(cpu, rk.CPU), append(mem, rk.Mem), append(disk, rk.Disk)
		}
		rd.Racks = append(rd.Racks, rk)
	}
	sort.SliceStable(rd.Racks, func(i, j int) bool { return rd.Racks[i].Device < rd.Racks[j].Device })
	rd.AvgCPU, rd.AvgMem, rd.AvgDisk = mean(cpu), mean(mem), mean(disk)
	return rd
}

// chart answers GET /chart/{name}.svg?range=&theme=.
func (s *Server) chart(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); !ok {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	name := strings.TrimSuffix(r.PathValue("chart"), ".svg")
	spec, ok := chartSpecs[name]
	if !ok {
		http.Error(w, "no such chart", http.StatusNotFound)
		return
	}
	dark := r.URL.Query().Get("theme") == "dark"
	th := charts.Light
	if dark {
		th = charts.Dark
	}
	_, rng := rangeOf(r)
	ctx, cancel := context.WithTimeout(r.Context(), s.o.Timeout)
	defer cancel()
	to := time.Now()
	// Windows of a 180th of the range, or of the data's own span when it began later
	// (a new deployment), so that a few minutes of data still draw as lines.
	span := rng
	if first, err := s.o.Room.Earliest(ctx, spec.fields, rng); err == nil && !first.IsZero() && to.Sub(first) < rng {
		span = max(to.Sub(first), time.Minute)
	}
	every := max(span/180, time.Second)
	c := charts.Chart{Title: spec.title, YLabel: spec.unit, From: to.Add(-rng), To: to, Location: s.o.Location}
	add := func(q room.SeriesQuery, label func(room.Series) string, dashed func(room.Series) bool) error {
		q.Range, q.Every = rng, every
		series, err := s.o.Room.Series(ctx, q)
		if err != nil {
			return err
		}
		for _, se := range series {
			pts := make([]charts.Point, len(se.Points))
			for i, p := range se.Points {
				pts[i] = charts.Point{T: p.T, V: p.V}
			}
			c.Lines = append(c.Lines, charts.Line{Label: label(se), Points: pts, Dashed: dashed(se)})
		}
		return nil
	}
	never := func(room.Series) bool { return false }
	always := func(room.Series) bool { return true }
	sectorName := func(se room.Series) string {
		if se.Location == "" {
			return se.Device
		}
		return se.Location + " · " + se.Device
	}
	var err error
	switch name {
	case "temperature", "humidity":
		inside, outside := room.Temperature, room.ExtTemperature
		if name == "humidity" {
			inside, outside = room.Humidity, room.ExtHumidity
		}
		if err = add(room.SeriesQuery{Fields: []string{inside}}, sectorName, never); err == nil {
			err = add(room.SeriesQuery{Fields: []string{outside}, Merge: true}, func(room.Series) string { return "outside" }, always)
		}
		if name == "temperature" {
			st, serr := s.o.Controller.State(ctx)
			lim, _ := s.limitsOf(st, serr == nil)
			c.Rules = []charts.Rule{{Label: fmt.Sprintf("limit %g °C", lim.TempLimit), Y: lim.TempLimit}}
		}
	case "setpoints":
		err = add(room.SeriesQuery{Fields: []string{room.Setpoint, room.Recommended}},
			func(se room.Series) string {
				if se.Field == room.Recommended {
					return se.Device + " recommended"
				}
				return se.Device + " applied"
			},
			func(se room.Series) bool { return se.Field == room.Recommended })
	}
	if err != nil {
		http.Error(w, "chart data: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	svg, err := charts.SVG(c, th)
	if errors.Is(err, charts.ErrNoData) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 454 198" role="img"><text x="227" y="99" text-anchor="middle" font-family="sans-serif" font-size="14" fill="%s">%s: no data in this range</text></svg>`,
			map[bool]string{true: "#e5e7eb", false: "#1f2937"}[dark], template.HTMLEscapeString(spec.title))
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write(svg)
}

var chartSpecs = map[string]struct {
	title, unit string
	fields      []string
}{
	"temperature": {"Temperature: sectors and outside", "°C", []string{room.Temperature, room.ExtTemperature}},
	"humidity":    {"Humidity: sectors and outside", "% RH", []string{room.Humidity, room.ExtHumidity}},
	"setpoints":   {"Set-point: applied and recommended", "°C", []string{room.Setpoint, room.Recommended}},
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func funcs(loc *time.Location) template.FuncMap {
	return template.FuncMap{
		"num": func(f figure, digits int) string {
			if !f.Known || math.IsNaN(f.V) {
				return "–"
			}
			return fmt.Sprintf("%.*f", digits, f.V)
		},
		"ptr": func(p *float64) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprintf("%g", *p)
		},
		"ptr1": func(p *float64) string {
			if p == nil {
				return "unknown"
			}
			return fmt.Sprintf("%.1f", *p)
		},
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.In(loc).Format("Jan 2 15:04:05")
		},
		"ago": func(t, now time.Time) string {
			if t.IsZero() {
				return "never"
			}
			d := now.Sub(t)
			switch {
			case d < time.Minute:
				return fmt.Sprintf("%d s ago", max(int(d.Seconds()), 0))
			case d < time.Hour:
				return fmt.Sprintf("%d min ago", int(d.Minutes()))
			case d < 48*time.Hour:
				return fmt.Sprintf("%.1f h ago", d.Hours())
			}
			return fmt.Sprintf("%d days ago", int(d.Hours()/24))
		},
		"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"list3": func(a, b, c string) []string { return []string{a, b, c} },
		"chartAlt": func(name string) string {
			return map[string]string{
				"temperature": "Chart of each sector's temperature and the outside temperature",
				"humidity":    "Chart of each sector's humidity and the outside humidity",
				"setpoints":   "Chart of each air conditioner's applied and recommended set-point",
			}[name]
		},
		"pct": func(f figure) float64 {
			if !f.Known {
				return 0
			}
			return math.Max(0, math.Min(100, f.V))
		},
	}
}

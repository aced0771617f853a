// Package charts draws the dashboard's time-series charts as SVG on the server, with
// gonum/plot, so the page needs no chart script and works with no network beyond the
// dashboard itself.
package charts

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Theme is the colours of a chart, to match the page's light or dark scheme.
type Theme struct {
	Text, Grid color.Color
	// Lines are taken in turn, one per line.
	Lines []color.Color
}

// The two themes; their colours are the page's (see web/static/app.css), and the
// line colours stay apart for the common kinds of colour blindness (Okabe and Ito).
var (
	Light = Theme{Text: color.RGBA{0x1f, 0x29, 0x37, 0xff}, Grid: color.RGBA{0xd1, 0xd5, 0xdb, 0xff}, Lines: palette}
	Dark  = Theme{Text: color.RGBA{0xe5, 0xe7, 0xeb, 0xff}, Grid: color.RGBA{0x37, 0x41, 0x51, 0xff}, Lines: palette}
)

var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xb2, 0xff}, // blue
	color.RGBA{0xe6, 0x9f, 0x00, 0xff}, // orange
	color.RGBA{0x00, 0x9e, 0x73, 0xff}, // green
	color.RGBA{0xcc, 0x79, 0xa7, 0xff}, // pink
	color.RGBA{0x56, 0xb4, 0xe9, 0xff}, // sky
	color.RGBA{0xd5, 0x5e, 0x00, 0xff}, // vermilion
	color.RGBA{0xf0, 0xe4, 0x42, 0xff}, // yellow
}

// Point is one value at one time.
type Point struct {
	T time.Time
	V float64
}

// Line is one series; Dashed draws it dashed (the outside weather, a recommendation).
type Line struct {
	Label  string
	Points []Point
	Dashed bool
}

// Rule is a horizontal line at a limit.
type Rule struct {
	Label string
	Y     float64
}

// Chart is one chart to draw.
type Chart struct {
	Title, YLabel string
	From, To      time.Time
	Lines         []Line
	Rules         []Rule
	// Location of the time axis (nil: UTC).
	Location *time.Location
}

// Size of every chart, in the SVG's own units; the page scales it to its column.
const (
	Width  = 16 * vg.Centimeter
	Height = 7 * vg.Centimeter
)

// ErrNoData: no line has a point in range; the page says so instead of an empty chart.
var ErrNoData = errors.New("no data in this range")

// tickFormat labels the time axis of a span so that neighbouring ticks differ:
// seconds on a span of minutes (a room that has just started reporting), hours and
// minutes within a day and a half, days beyond.
func tickFormat(span time.Duration) string {
	switch {
	case span <= 15*time.Minute:
		return "15:04:05"
	case span <= 36*time.Hour:
		return "15:04"
	}
	return "Jan 2"
}

// SVG draws c.
func SVG(c Chart, th Theme) ([]byte, error) {
	p := plot.New()
	p.BackgroundColor = color.Transparent
	p.Title.Text = c.Title
	p.Title.TextStyle.Color = th.Text
	p.Y.Label.Text = c.YLabel
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Color = th.Text
		a.Tick.Label.Color = th.Text
		a.Color = th.Grid
		a.Tick.Color = th.Grid
	}
	p.Legend.TextStyle.Color = th.Text
	p.Legend.Top = true
	p.Legend.Left = true
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = th.Grid, th.Grid
	p.Add(grid)
	// A range longer than the data (a new deployment, a room that started reporting
	// an hour ago) starts at the first point, so the lines are not squeezed into its
	// last pixels.
	first := c.To
	for _, l := range c.Lines {
		for _, pt := range l.Points {
			if !pt.T.Before(c.From) && pt.T.Before(first) {
				first = pt.T
			}
		}
	}
	from := c.From
	if first.After(from) && first.Before(c.To) {
		from = first
	}
	p.X.Min, p.X.Max = unix(from), unix(c.To)
	p.X.Tick.Marker = plot.TimeTicks{Format: tickFormat(c.To.Sub(from)), Time: plot.UnixTimeIn(loc)}

	lo, hi := math.Inf(1), math.Inf(-1)
	drawn := false
	for i, l := range c.Lines {
		xys := make(plotter.XYs, 0, len(l.Points))
		for _, pt := range l.Points {
			if pt.T.Before(c.From) || pt.T.After(c.To) || math.IsNaN(pt.V) || math.IsInf(pt.V, 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: unix(pt.T), Y: pt.V})
			lo, hi = math.Min(lo, pt.V), math.Max(hi, pt.V)
		}
		if len(xys) == 0 {
			continue
		}
		drawn = true
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.Title, err)
		}
		line.Color = th.Lines[i%len(th.Lines)]
		line.Width = vg.Points(1.6)
		if l.Dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		p.Legend.Add(l.Label, line)
	}
	if !drawn {
		return nil, ErrNoData
	}
	// Head room above the lines for the legend, one line of it per entry.
	span := math.Max(hi-lo, 1)
	p.Y.Min, p.Y.Max = lo-span*0.1, hi+span*(0.2+0.12*float64(len(c.Lines)+len(c.Rules)))
	for _, r := range c.Rules {
		// A rule far from the data would squash the lines: draw only those near them.
		if r.Y < lo-(hi-lo)-2 || r.Y > hi+(hi-lo)+2 {
			continue
		}
		rule, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: r.Y}, {X: p.X.Max, Y: r.Y}})
		if err != nil {
			return nil, err
		}
		rule.Color = color.RGBA{0xd5, 0x5e, 0x00, 0xff}
		rule.Width = vg.Points(1)
		rule.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(rule)
		p.Legend.Add(r.Label, rule)
	}
	wt, err := p.WriterTo(Width, Height, "svg")
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", c.Title, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: %w", c.Title, err)
	}
	return buf.Bytes(), nil
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

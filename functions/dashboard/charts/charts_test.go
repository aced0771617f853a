package charts

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

func TestSVG(t *testing.T) {
	from := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var inside, outside []Point
	for i := range 60 {
		at := from.Add(time.Duration(i) * time.Minute)
		inside = append(inside, Point{T: at, V: 22 + math.Sin(float64(i)/10)})
		outside = append(outside, Point{T: at, V: 5})
	}
	inside = append(inside, Point{T: from.Add(time.Minute), V: math.NaN()}, Point{T: from.Add(-time.Hour), V: 99})
	c := Chart{Title: "Temperature", YLabel: "°C", From: from, To: from.Add(time.Hour),
		Lines: []Line{{Label: "sector-a", Points: inside}, {Label: "outside", Points: outside, Dashed: true}},
		Rules: []Rule{{Label: "limit 27 °C", Y: 27}, {Label: "far away", Y: 500}}}
	for name, th := range map[string]Theme{"light": Light, "dark": Dark} {
		t.Run(name, func(t *testing.T) {
			b, err := SVG(c, th)
			if err != nil {
				t.Fatal(err)
			}
			// Well-formed XML whose root is an svg element.
			d := xml.NewDecoder(bytes.NewReader(b))
			var root string
			for {
				tok, err := d.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("not XML: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok && root == "" {
					root = se.Name.Local
				}
			}
			if root != "svg" {
				t.Fatalf("root element %q, want svg", root)
			}
			for _, want := range []string{"Temperature", "sector-a", "outside", "limit 27 °C", "09:"} {
				if !bytes.Contains(b, []byte(want)) {
					t.Errorf("chart lacks %q", want)
				}
			}
			if bytes.Contains(b, []byte("far away")) {
				t.Error("a rule far from the data was drawn")
			}
		})
	}
}

func TestSVGNoData(t *testing.T) {
	from := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	_, err := SVG(Chart{Title: "x", From: from, To: from.Add(time.Hour),
		Lines: []Line{{Label: "old", Points: []Point{{T: from.Add(-2 * time.Hour), V: 1}}}, {Label: "none"}}}, Light)
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("SVG = %v, want ErrNoData", err)
	}
}

// A range longer than the data starts at the first point, so the lines fill the chart.
func TestSVGStartsAtTheData(t *testing.T) {
	to := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	var pts []Point
	for i := range 10 {
		pts = append(pts, Point{T: to.Add(time.Duration(i-10) * time.Minute), V: 20 + float64(i)})
	}
	b, err := SVG(Chart{Title: "t", From: to.Add(-6 * time.Hour), To: to, Lines: []Line{{Label: "a", Points: pts}}}, Light)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("14:5")) || bytes.Contains(b, []byte("10:00")) || bytes.Contains(b, []byte("12:00")) {
		t.Error("the time axis does not start at the data")
	}
}

// Neighbouring ticks of a short span differ: two minutes of data are labelled to the
// second, not four times with the same minute.
func TestSVGTicksOfAShortSpan(t *testing.T) {
	to := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	var pts []Point
	for i := range 12 {
		pts = append(pts, Point{T: to.Add(time.Duration(i-12) * 10 * time.Second), V: 20})
	}
	b, err := SVG(Chart{Title: "t", From: to.Add(-6 * time.Hour), To: to, Lines: []Line{{Label: "a", Points: pts}}}, Light)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("14:59:")) {
		t.Errorf("a two-minute span is not labelled to the second")
	}
	for _, tc := range []struct {
		span time.Duration
		want string
	}{{2 * time.Minute, "15:04:05"}, {6 * time.Hour, "15:04"}, {7 * 24 * time.Hour, "Jan 2"}} {
		if got := tickFormat(tc.span); got != tc.want {
			t.Errorf("tickFormat(%s) = %q, want %q", tc.span, got, tc.want)
		}
	}
}

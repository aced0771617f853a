package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// output is the demo's stdout, read while it runs.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// await waits until the output matches re and returns the submatches.
func (o *output) await(t *testing.T, what string, re *regexp.Regexp, timeout time.Duration, done <-chan struct{}) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := re.FindStringSubmatch(o.String()); m != nil {
			return m
		}
		select {
		case <-deadline:
			t.Fatalf("no %s after %s in the demo's output:\n%s", what, timeout, o)
		case <-done:
			t.Fatalf("the demo ended before %s:\n%s", what, o)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// browser starts headless Chromium (Debian's, from the tools) for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin, err := servers.Tool("chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// repoRoot is the module's root, where dist/ lives.
func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// shoot saves a full-page screenshot of the page at url, at a desktop width in the
// dark scheme and at a phone width in the light one.
func shoot(t *testing.T, ctx context.Context, dir, name, url, waitFor string) {
	t.Helper()
	for _, v := range []struct {
		suffix        string
		width, height int64
		scheme        string
	}{{"desktop", 1280, 900, "dark"}, {"phone", 390, 844, "light"}} {
		scheme := func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v.scheme}}})
			return err
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height), chromedp.Func(scheme),
			chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(waitFor)), chromedp.Sleep(700*time.Millisecond)); err != nil {
			t.Fatalf("%s at %s: %v", name, v.suffix, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, v.suffix)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// poll waits in the page until the JavaScript predicate expr holds, and returns its
// value.
func poll[T any](t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(250*time.Millisecond)))
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, html)
	}
	return v
}

// sectorFigure is what the room view shows of one sector.
type sectorFigure struct {
	Device      string `json:"device"`
	Temperature string `json:"temperature"`
	Humidity    string `json:"humidity"`
}

// checkSectorsMatchInfluxDB reads every sector's numbers off the page and checks each
// is what InfluxDB holds for that device: the value of one of its readings of the last
// minute, rounded as the page rounds it.
func checkSectorsMatchInfluxDB(t *testing.T, ctx context.Context, influxURL, bucket string, pis int) {
	t.Helper()
	sectors := poll[[]sectorFigure](t, ctx, "every Pi's sector with numbers", fmt.Sprintf(`(() => {
	  const s = [...document.querySelectorAll('li.sector')].map(li => ({device: li.dataset.device,
	    temperature: li.querySelector('[data-figure=temperature]').textContent,
	    humidity: li.querySelector('[data-figure=humidity]').textContent}))
	    .filter(s => s.device.startsWith('pi-') && s.temperature !== '–');
	  return s.length >= %d ? s : null })()`, pis), time.Minute)
	client := influxdb2.NewClient(influxURL, "")
	defer client.Close()
	for _, s := range sectors {
		for field, shown := range map[string]string{"temperature": s.Temperature, "humidity": s.Humidity} {
			digits := map[string]int{"temperature": 1, "humidity": 0}[field]
			res, err := client.QueryAPI("").Query(ctx, fmt.Sprintf(`from(bucket: %q) |> range(start: -2m)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q)`, bucket, s.Device, field))
			if err != nil {
				t.Fatal(err)
			}
			var stored []string
			for res.Next() {
				v, _ := res.Record().Value().(float64)
				// As the page formats it (fmt's %.*f, which rounds a tie such as 52.5 to
				// even: "52"), not as math.Round would ("53").
				stored = append(stored, fmt.Sprintf("%.*f", digits, v))
			}
			res.Close()
			found := false
			for _, v := range stored {
				found = found || v == shown
			}
			if !found {
				t.Errorf("%s %s shown as %s; InfluxDB holds %v in the last minutes", s.Device, field, shown, stored)
			}
		}
	}
	t.Logf("room view: %d sectors, each shown as InfluxDB holds it: %+v", len(sectors), sectors)
}

// browse logs in to the demo's dashboard in Chromium and goes through every view as an
// operator would: the room with the numbers InfluxDB holds, the racks filling, the
// pipeline's live figures, then (once the loop runs) ▲ on an air conditioner, seen
// through to the Pi reporting the new set-point, the override and the audit entry.
// It saves screenshots of each view under dist/screenshots/.
func browse(t *testing.T, out *output, done <-chan struct{}, pis int) {
	m := out.await(t, "the dashboard's address", regexp.MustCompile(`dashboard\s+(http://127\.0\.0\.1:\d+)\n\s+log in as "(\w+)" with password (\S+) `), 3*time.Minute, done)
	url, user, password := m[1], m[2], m[3]
	db := out.await(t, "InfluxDB's address", regexp.MustCompile(`InfluxDB\s+(http://\S+)\s+bucket "([^"]+)"`), time.Minute, done)
	shots := filepath.Join(repoRoot(t), "dist", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	shoot(t, ctx, shots, "login", url+"/login", "#user")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SendKeys(chromedp.CSS("#user"), user), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("ul.sectors"))); err != nil {
		t.Fatalf("log in: %v", err)
	}
	checkSectorsMatchInfluxDB(t, ctx, db[1], db[2], pis)

	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/racks")); err != nil {
		t.Fatal(err)
	}
	n := poll[int](t, ctx, "the rack table to fill", fmt.Sprintf(`(() => {
	  const n = [...document.querySelectorAll('table.racks tbody tr')].filter(tr =>
	    tr.dataset.device.startsWith('pi-') && tr.querySelector('[data-figure=cpu]').textContent !== '–').length;
	  return n >= %d ? n : 0 })()`, pis), time.Minute)
	t.Logf("rack view: %d Pis with CPU, memory and disk", n)
	shoot(t, ctx, shots, "racks", url+"/racks", "table.racks")

	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/health")); err != nil {
		t.Fatal(err)
	}
	rate := poll[string](t, ctx, "live pipeline figures", `(() => {
	  const f = n => document.querySelector('[data-figure=' + n + ']').textContent;
	  return f('write-rate') !== 'unknown' && f('backlog') !== '–' && f('lag') !== '–' && Number(f('write-rate')) > 0 ? f('write-rate') : null })()`, time.Minute)
	t.Logf("pipeline view: sender writing %s readings/s", rate)
	shoot(t, ctx, shots, "health", url+"/health", "dl.cards")

	// The panel's controls need the controller: wait for the loop.
	out.await(t, "the controller", regexp.MustCompile(`loop: model trained`), 8*time.Minute, done)
	const ac = `li.ac[data-device="pi-2"]`
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/ac")); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "pi-2's set-point in force", `document.querySelector('`+ac+` [data-figure=current]')?.textContent.match(/^\d+$/) != null`, time.Minute)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(ac+` button[value=up]`))); err != nil {
		t.Fatalf("press ▲: %v", err)
	}
	msg := poll[string](t, ctx, "the outcome of ▲", `(() => { const s = document.getElementById('status'); return s.className.includes('ok') || s.className.includes('error') ? s.textContent : null })()`, time.Minute)
	got := regexp.MustCompile(`^pi-2 set to (\d+) °C by ` + user + `\.$`).FindStringSubmatch(msg)
	if got == nil {
		t.Fatalf("▲ on pi-2: %q, want it set", msg)
	}
	sp := got[1]
	poll[bool](t, ctx, "pi-2 reporting "+sp+" °C", `document.querySelector('`+ac+` [data-figure=reported]')?.textContent === '`+sp+`'`, time.Minute)
	override := poll[string](t, ctx, "the override", `document.querySelector('`+ac+` [data-figure=override]')?.textContent ?? null`, 30*time.Second)
	if !strings.Contains(override, "Manual "+sp+" °C by "+user+" until") {
		t.Errorf("override shown as %q", override)
	}
	entry := poll[string](t, ctx, "the audit entry", `[...document.querySelectorAll('table.audit tbody tr')].map(tr => tr.textContent).find(s => s.includes('manual by `+user+`')) ?? null`, 30*time.Second)
	if !strings.Contains(entry, "pi-2") || !strings.Contains(entry, "→ "+sp+" °C") || !strings.Contains(entry, "▲ on the dashboard") {
		t.Errorf("audit entry %q, want pi-2 to %s °C by ▲", entry, sp)
	}
	t.Logf("AC panel: ▲ on pi-2 set %s °C, the Pi reports it, override %q", sp, override)
	shoot(t, ctx, shots, "ac", url+"/ac", "table.audit")
	// The room last, once the controller answers: its recommendation and limits are
	// on the page then, not the defaults' warning.
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "the room with the controller's limits", `!document.body.textContent.includes('controller does not answer') && !document.body.textContent.includes('controller not reached')`, 30*time.Second)
	shoot(t, ctx, shots, "room", url+"/", "figure.chart img")
}

package localrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// EdgeX is EdgeX 4's core services on a PostgreSQL and a mosquitto (their message
// bus) of their own, as a site with an EdgeX hub runs them, with EdgeX's own common
// configuration. Close stops them; the fields are read-only.
type EdgeX struct {
	*servers.EdgeX
	Postgres *servers.Postgres
	Bus      *servers.MQTT

	dir     string
	closers []func() error
	log     *os.File
}

// StartEdgeX starts PostgreSQL, mosquitto, core-metadata, core-data and core-command
// with their data in dir and one log, <dir>/logs/edgex.log, and waits until each
// answers. It fails with servers.ErrNotInstalled when PostgreSQL or the EdgeX build
// is missing ("make tools"). On error it stops what it started.
func StartEdgeX(ctx context.Context, dir string) (_ *EdgeX, err error) {
	e := &EdgeX{dir: dir}
	defer func() {
		if err != nil {
			_ = e.Close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	if e.log, err = os.Create(e.LogPath()); err != nil {
		return nil, err
	}
	if e.Postgres, err = servers.NewPostgres(filepath.Join(dir, "postgres"), servers.EdgeXDBUser, servers.EdgeXDBPassword, e.log); err != nil {
		return nil, err
	}
	if err := e.start(ctx, e.Postgres.Proc); err != nil {
		return nil, err
	}
	if err := e.Postgres.CreateDatabase(ctx, servers.EdgeXDatabase); err != nil {
		return nil, err
	}
	if e.Bus, err = servers.NewMQTT(filepath.Join(dir, "mqtt"), "", e.log); err != nil {
		return nil, err
	}
	if err := e.start(ctx, e.Bus.Proc); err != nil {
		return nil, err
	}
	host, portText, err := net.SplitHostPort(e.Bus.Addr)
	if err != nil {
		return nil, fmt.Errorf("edgex: the bus address %q: %w", e.Bus.Addr, err)
	}
	port, _ := strconv.Atoi(portText)
	if e.EdgeX, err = servers.NewEdgeX(filepath.Join(dir, "edgex"), e.Postgres, host, port, servers.EdgeXOptions{}, e.log); err != nil {
		return nil, err
	}
	for _, p := range e.Procs() {
		if err := e.start(ctx, p); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// LogPath is where every part of it logs.
func (e *EdgeX) LogPath() string { return filepath.Join(e.dir, "logs", "edgex.log") }

func (e *EdgeX) start(ctx context.Context, p *servers.Proc) error {
	if err := p.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", p.Name(), err)
	}
	e.closers = append(e.closers, p.Stop)
	return nil
}

// Close stops everything by PID, newest first, and closes the log.
func (e *EdgeX) Close() error {
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		errs = append(errs, e.closers[i]())
	}
	e.closers = nil
	if e.log != nil {
		errs = append(errs, e.log.Close())
		e.log = nil
	}
	return errors.Join(errs...)
}

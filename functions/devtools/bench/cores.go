package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"github.com/smartx-team/overcloud/functions/testbed/localrun"
)

// coreUse records where the machine's cores went over a window: how busy they were in
// all, and how much of that each process of the path took (with its children), so that
// a whole-path row shows whether the machine was its bound.
type coreUse struct {
	start     time.Time
	busy      float64 // seconds of all cores, busy, at start; NaN if unknown
	processes []process
	cpu       []float64 // seconds so far of each process at start
}

// pathProcesses are the path's processes, the load generator (this one) last.
func pathProcesses(p *localrun.Path) []process {
	return []process{
		{"hub", p.Hub.PID()}, {"FerretDB", p.Mongo.PID()}, {"Kafka", p.Kafka.PID()},
		{"sender", p.Sender.PID()}, {"InfluxDB", p.Influx.PID()}, {"load generator", os.Getpid()},
	}
}

// startCoreUse takes the first snapshot.
func startCoreUse(processes []process) *coreUse {
	u := &coreUse{start: time.Now(), busy: machineBusySeconds(), processes: processes}
	for _, pr := range processes {
		u.cpu = append(u.cpu, processCPUSeconds(pr.pid))
	}
	return u
}

// share is one process's part of the window: cores it kept busy on average.
type share struct {
	name  string
	cores float64
}

// stop takes the second snapshot and returns the cores busy on average and each
// process's share, in the order given.
func (u *coreUse) stop() (busy float64, shares []share) {
	secs := time.Since(u.start).Seconds()
	busy = (machineBusySeconds() - u.busy) / secs
	for i, pr := range u.processes {
		shares = append(shares, share{pr.name, (processCPUSeconds(pr.pid) - u.cpu[i]) / secs})
	}
	return busy, shares
}

// coresNote says how busy the machine's cores were and who kept them busy:
// "cores 1.96 of 2 busy: hub 0.92, load generator 0.41, ...". Unknown figures are
// left out; with no machine figure, only the shares are given.
func coresNote(busy float64, cores int, shares []share) string {
	var parts []string
	for _, s := range shares {
		if !math.IsNaN(s.cores) {
			parts = append(parts, fmt.Sprintf("%s %.2f", s.name, s.cores))
		}
	}
	head := "cores busy"
	if !math.IsNaN(busy) {
		head = fmt.Sprintf("cores %.2f of %d busy", busy, cores)
	}
	if len(parts) == 0 {
		return head
	}
	return head + ": " + strings.Join(parts, ", ")
}

// processCPUSeconds is a process's CPU time so far with its children's, but for this
// process's own: every server of the path is a child of the load generator.
func processCPUSeconds(pid int) float64 {
	if pid == os.Getpid() {
		return cpuSeconds(pid)
	}
	return treeCPUSeconds(pid)
}

// machineBusySeconds is the time all cores spent on anything but idling or waiting
// for I/O since boot, from /proc/stat; NaN if it cannot be read.
func machineBusySeconds() float64 {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return math.NaN()
	}
	st, err := fs.Stat()
	if err != nil {
		return math.NaN()
	}
	t := st.CPUTotal
	return t.User + t.Nice + t.System + t.IRQ + t.SoftIRQ + t.Steal
}

// machineCores is how many cores the row's figures are shares of.
func machineCores() int { return runtime.NumCPU() }

// Package sysstat measures the Pi itself for the dashboard's rack-status view: CPU
// use since the previous sample, memory in use and disk use, all in percent, read
// from /proc and statfs(2) without starting any process.
package sysstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Stats is one sample, each in percent (0..100).
type Stats struct {
	CPU  float64 // busy share of all CPUs since the previous sample (since boot for the first)
	Mem  float64 // (MemTotal - MemAvailable) / MemTotal
	Disk float64 // used / (used + available to unprivileged users), as df shows it
}

// Sampler keeps the CPU counters between samples. It is not safe for concurrent use.
type Sampler struct {
	proc, disk string
	prev       CPUTimes
}

// New samples /proc under procRoot (normally "/proc") and the file system holding
// diskPath.
func New(procRoot, diskPath string) *Sampler {
	return &Sampler{proc: procRoot, disk: diskPath}
}

// Sample reads all three values.
func (s *Sampler) Sample() (Stats, error) {
	var st Stats
	b, err := readSmall(filepath.Join(s.proc, "stat"))
	if err != nil {
		return st, err
	}
	cur, err := ParseCPU(b)
	if err != nil {
		return st, err
	}
	st.CPU = cur.BusySince(s.prev)
	s.prev = cur
	if b, err = readSmall(filepath.Join(s.proc, "meminfo")); err != nil {
		return st, err
	}
	if st.Mem, err = ParseMemUsed(b); err != nil {
		return st, err
	}
	if st.Disk, err = DiskUsed(s.disk); err != nil {
		return st, err
	}
	return st, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sysstat: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("sysstat read %s: %w", path, err)
	}
	return b, nil
}

// ErrFormat is wrapped by the parsers' errors.
var ErrFormat = errors.New("unexpected format")

// CPUTimes are the aggregate CPU counters of /proc/stat, in clock ticks.
type CPUTimes struct{ Busy, Total uint64 }

// ParseCPU reads the first ("cpu ") line of /proc/stat. Idle and iowait count as
// idle; guest time is already inside user time, so it is not added again.
func ParseCPU(b []byte) (CPUTimes, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return CPUTimes{}, fmt.Errorf("/proc/stat: %w: first line is not the cpu line", ErrFormat)
	}
	var t CPUTimes
	var idle uint64
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return CPUTimes{}, fmt.Errorf("/proc/stat: %w: field %d", ErrFormat, i+1)
		}
		if t.Total+v < t.Total {
			return CPUTimes{}, fmt.Errorf("/proc/stat: %w: counters overflow", ErrFormat)
		}
		t.Total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	t.Busy = t.Total - idle
	return t, nil
}

// BusySince is the busy percentage between prev and t; counters that went backwards
// (a wrapped counter, another boot) give 0.
func (t CPUTimes) BusySince(prev CPUTimes) float64 {
	if t.Total <= prev.Total || t.Busy < prev.Busy {
		return 0
	}
	return math.Min(100, 100*float64(t.Busy-prev.Busy)/float64(t.Total-prev.Total))
}

// ParseMemUsed returns the share of memory in use from /proc/meminfo. Kernels older
// than 3.14 have no MemAvailable; MemFree + Buffers + Cached stands in there.
func ParseMemUsed(b []byte) (float64, error) {
	vals := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch name {
		case "MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached":
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("/proc/meminfo: %w: %s has no value", ErrFormat, name)
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/meminfo: %w: %s", ErrFormat, name)
		}
		vals[name] = v
	}
	total := vals["MemTotal"]
	if total == 0 {
		return 0, fmt.Errorf("/proc/meminfo: %w: no MemTotal", ErrFormat)
	}
	avail, ok := vals["MemAvailable"]
	if !ok {
		avail = vals["MemFree"] + vals["Buffers"] + vals["Cached"]
	}
	if avail > total {
		avail = total
	}
	return math.Min(100, 100*float64(total-avail)/float64(total)), nil
}

// DiskUsed is the use of the file system holding path, as df computes Use%.
func DiskUsed(path string) (float64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("sysstat statfs %s: %w", path, err)
	}
	used := uint64(st.Blocks) - uint64(st.Bfree)
	avail := uint64(st.Bavail)
	if used+avail == 0 {
		return 0, nil
	}
	return 100 * float64(used) / float64(used+avail), nil
}

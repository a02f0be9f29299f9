// Package proc reads the figures the benchmark needs from Linux's /proc and
// from getrusage: the CPU time and resident memory of a process, and the
// process's own descriptor limit.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports, and the kernel reports it to
// user space only through sysconf, which Go does not expose without cgo.
const clockTick = 100

// CPUTime returns utime+stime of process pid, summed over all its threads,
// from /proc/PID/stat. The resolution is one clock tick (10 ms), so measure
// windows of at least a few seconds.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d (is it still running?): %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may contain spaces:
	// count fields from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no ')' in %q", pid, b)
	}
	fields := bytes.Fields(b[i+1:])
	// After ')': field 3 is state, so utime (14) and stime (15) are at 11 and 12.
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: only %d fields", pid, len(fields))
	}
	ut, err1 := strconv.ParseUint(string(fields[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse utime/stime of /proc/%d/stat: %q %q", pid, fields[11], fields[12])
	}
	return time.Duration(ut+st) * (time.Second / clockTick), nil
}

// Memory is a process's resident memory, in bytes.
type Memory struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: peak resident
}

// ReadMemory returns VmRSS and VmHWM of process pid from /proc/PID/status.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of process %d (is it still running?): %w", pid, err)
	}
	var m Memory
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &m.RSS
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &m.HWM
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("parse %q in /proc/%d/status: %w", line, pid, err)
		}
		*dst = kb * 1024
	}
	return m, nil
}

// SelfCPU returns the user+system CPU time this process has used so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit. Go does this at start-up since 1.19, but doing it here
// too keeps the figure explicit and lets callers report it.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the descriptor limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("raise the soft descriptor limit to %d (raise the hard limit with ulimit -Hn): %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

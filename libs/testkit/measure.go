package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Measurement is what RunMeasured saw of a process.
type Measurement struct {
	Wall    time.Duration // from start to exit
	CPU     time.Duration // user + system time of the process itself
	PeakRSS int64         // bytes
}

// RunMeasured runs cmd to completion and measures it, for benchmarks of
// real binaries. The peak is VmHWM polled from /proc while the process
// runs: rusage's Maxrss would also count the parent's memory, which the
// child shares between fork and exec. CPU time tells a process's own work
// from waiting on servers that share the machine with it.
func RunMeasured(cmd *exec.Cmd) (Measurement, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Measurement{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peak int64
	for {
		if kb := vmHWM(status); kb > peak {
			peak = kb
		}
		select {
		case err := <-done:
			m := Measurement{Wall: time.Since(start), PeakRSS: peak << 10}
			if ps := cmd.ProcessState; ps != nil {
				m.CPU = ps.UserTime() + ps.SystemTime()
			}
			return m, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// vmHWM reads a process's peak RSS in kB (0 once it is gone).
func vmHWM(statusPath string) int64 {
	data, err := os.ReadFile(statusPath)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

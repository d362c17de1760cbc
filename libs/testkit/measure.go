package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// RunMeasured runs cmd to completion and returns its wall time and peak
// resident set size in bytes, for benchmarks of real binaries. The peak is
// VmHWM polled from /proc while the process runs: rusage's Maxrss would
// also count the parent's memory, which the child shares between fork and
// exec.
func RunMeasured(cmd *exec.Cmd) (time.Duration, int64, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
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
			return time.Since(start), peak << 10, err
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

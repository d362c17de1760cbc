package testkit

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KillAt runs c — a service binary built with the "faults" tag (see
// libs/faults) — until it reaches the pause point named point, then kills
// it with SIGKILL, as an operator's kill -9 or a node's loss would: the
// test then checks what a restart makes of the state left behind. c's
// Stderr must be unset (KillAt reads it); its Env gets
// TRIBUTARY_FAULT_PAUSE=point. It fails the test if the point is not
// reached within two minutes, with the process's output.
func KillAt(t testing.TB, c *exec.Cmd, point string) {
	t.Helper()
	PauseAt(t, c, point)
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.Wait()
}

// PauseAt starts c as KillAt does and returns once it stands at the pause
// point, alive: a test can look at what it holds at that moment (a temp
// file, a lock) and start other processes beside it. The process stays
// paused until the test kills it; it is killed when the test ends if the
// test did not.
func PauseAt(t testing.TB, c *exec.Cmd, point string) {
	t.Helper()
	c.Env = append(c.Env, "TRIBUTARY_FAULT_PAUSE="+point)
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.ProcessState == nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	paused := make(chan struct{})
	var mu sync.Mutex
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "FAULT PAUSE "+point) {
				close(paused)
				_, _ = io.Copy(io.Discard, stderr)
				return
			}
		}
	}()
	select {
	case <-paused:
	case <-time.After(2 * time.Minute):
		_ = c.Process.Kill()
		_ = c.Wait()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s never reached the pause point %s:\n%s", c.Path, point, out.String())
	}
}

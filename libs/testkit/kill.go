package testkit

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
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
	c.Env = append(c.Env, "TRIBUTARY_FAULT_PAUSE="+point)
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	paused := make(chan struct{})
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
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
		t.Fatalf("%s never reached the pause point %s:\n%s", c.Path, point, out.String())
	}
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.Wait()
}

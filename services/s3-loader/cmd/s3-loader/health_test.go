package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
)

func stopLoader(t *testing.T, pid int, wait func() error) {
	t.Helper()
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = wait()
}

// TestStuckLoopFailsHealthz pauses the loader for good inside a delivery
// (the fault build's pause before commit): with a short HEALTH_WINDOW,
// /healthz turns 503 so Kubernetes would restart it.
func TestStuckLoopFailsHealthz(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	addr := testkit.FreeAddr(t)
	c, out := e.startUntil(faultBinary, "FAULT pause before commit", "FAULT_PAUSE_BEFORE_COMMIT=true",
		"RUN_AS_SERVICE=true", "HEALTH_WINDOW=2", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	body := testkit.WaitStatus(t, addr, "/healthz", http.StatusServiceUnavailable, out)
	if !strings.Contains(body, "stalled") {
		t.Fatalf("/healthz 503 says %q, want it to say the loop stalled", body)
	}
}

// TestIdleLoopStaysHealthy runs a loader with nothing to do for several
// health windows: passes and sleeps keep beating, /healthz stays 200.
func TestIdleLoopStaysHealthy(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	addr := testkit.FreeAddr(t)
	c, out := e.startUntil(binary, "pass done", "RUN_AS_SERVICE=true", "MIN_SLEEP=0", "MAX_SLEEP=1", "HEALTH_WINDOW=3", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	testkit.WaitStatus(t, addr, "/healthz", http.StatusOK, out)
	// Watch four windows' worth of probes: every one must be 200.
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if code, body := testkit.Probe(addr, "/healthz"); code != http.StatusOK {
			t.Fatalf("an idle loader answered /healthz %d %q; it said:\n%s", code, body, out)
		}
	}
	if got := e.scalar(`SELECT count(*) FROM customers`); got != "1" {
		t.Fatalf("customers = %s, want the one row loaded", got)
	}
}

// TestReadyzNamesTheDependencyThatIsDown stops the S3 server under a
// running loader: /readyz?verbose turns 503 naming the bucket, and only
// it, while /readyz (the pod's own readiness) stays 200.
func TestReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	e := newProcEnv(t)
	addr := testkit.FreeAddr(t)
	c, out := e.startUntil(binary, "pass done", "RUN_AS_SERVICE=true", "MIN_SLEEP=1", "MAX_SLEEP=1", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	if body := testkit.WaitStatus(t, addr, "/readyz?verbose", http.StatusOK, out); !strings.HasPrefix(body, "ready") {
		t.Fatalf("/readyz?verbose 200 says %q", body)
	}
	e.s3.Stop()
	body := testkit.WaitStatus(t, addr, "/readyz?verbose", http.StatusServiceUnavailable, out)
	if !strings.Contains(body, "[-] bucket "+e.bucket.Name+":") {
		t.Fatalf("/readyz?verbose does not name the bucket:\n%s", body)
	}
	for _, up := range []string{"postgres", "nats"} {
		if !strings.Contains(body, "[+] "+up+": ok") {
			t.Fatalf("/readyz?verbose does not say %s, which is up, is ok:\n%s", up, body)
		}
	}
	if code, body := testkit.Probe(addr, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with S3 down = %d %q: the pod itself is up", code, body)
	}
}

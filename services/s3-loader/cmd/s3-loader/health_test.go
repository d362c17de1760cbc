package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr is a 127.0.0.1 address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// probe GETs path on addr and returns the status and body (0 while the
// server is not up).
func probe(addr, path string) (int, string) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitStatus polls path until it answers want, and returns the body.
func waitStatus(t *testing.T, addr, path string, want int, out fmt.Stringer) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := probe(addr, path)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d (last: %d %s); loader said:\n%s", path, want, code, body, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

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
	addr := freeAddr(t)
	c, out := e.startUntil(faultBinary, "FAULT pause before commit", "FAULT_PAUSE_BEFORE_COMMIT=true",
		"RUN_AS_SERVICE=true", "HEALTH_WINDOW=2", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	body := waitStatus(t, addr, "/healthz", http.StatusServiceUnavailable, out)
	if !strings.Contains(body, "stalled") {
		t.Fatalf("/healthz 503 says %q, want it to say the loop stalled", body)
	}
}

// TestIdleLoopStaysHealthy runs a loader with nothing to do for several
// health windows: passes and sleeps keep beating, /healthz stays 200.
func TestIdleLoopStaysHealthy(t *testing.T) {
	e := newProcEnv(t)
	e.put("dbo/customers/LOAD00000001.csv", []byte("1,ann\n"))
	addr := freeAddr(t)
	c, out := e.startUntil(binary, "pass done", "RUN_AS_SERVICE=true", "MIN_SLEEP=0", "MAX_SLEEP=1", "HEALTH_WINDOW=3", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	waitStatus(t, addr, "/healthz", http.StatusOK, out)
	// Watch four windows' worth of probes: every one must be 200.
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if code, body := probe(addr, "/healthz"); code != http.StatusOK {
			t.Fatalf("an idle loader answered /healthz %d %q; it said:\n%s", code, body, out)
		}
	}
	if got := e.scalar(`SELECT count(*) FROM customers`); got != "1" {
		t.Fatalf("customers = %s, want the one row loaded", got)
	}
}

// TestReadyzNamesTheDependencyThatIsDown stops the S3 server under a
// running loader: /readyz turns 503 naming the bucket, and only it.
func TestReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	e := newProcEnv(t)
	addr := freeAddr(t)
	c, out := e.startUntil(binary, "pass done", "RUN_AS_SERVICE=true", "MIN_SLEEP=1", "MAX_SLEEP=1", "METRICS_ADDR="+addr)
	defer stopLoader(t, c.Process.Pid, c.Wait)
	if body := waitStatus(t, addr, "/readyz", http.StatusOK, out); !strings.Contains(body, "ready") {
		t.Fatalf("/readyz 200 says %q", body)
	}
	e.s3.Stop()
	body := waitStatus(t, addr, "/readyz", http.StatusServiceUnavailable, out)
	if !strings.Contains(body, "bucket "+e.bucket.Name+":") {
		t.Fatalf("/readyz does not name the bucket:\n%s", body)
	}
	for _, up := range []string{"postgres:", "nats:"} {
		if strings.Contains(body, up) {
			t.Fatalf("/readyz names %s, which is up:\n%s", up, body)
		}
	}
}

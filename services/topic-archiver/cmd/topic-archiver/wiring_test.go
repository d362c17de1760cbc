package main

import (
	"bytes"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
)

// service starts the archiver in service mode with its metrics server on
// a free address; it is killed when the test ends.
func (e *procEnv) service(t *testing.T, extra ...string) (string, *lockedBuffer) {
	t.Helper()
	addr := testkit.FreeAddr(t)
	c := e.cmd(nil, append([]string{"RUN_AS_SERVICE=true", "METRICS_ADDR=" + addr}, extra...)...)
	out := &lockedBuffer{}
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Signal(syscall.SIGKILL); _ = c.Wait() })
	return addr, out
}

// lockedBuffer collects a process's output while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReadOnlyVerbsLeaveTheSchemaAlone runs the verbs that only read
// against a database the archiver has never used: each says the index is
// missing and creates nothing. A verb that changes the index creates it.
func TestReadOnlyVerbsLeaveTheSchemaAlone(t *testing.T) {
	e := newProcEnv(t, 1)
	tables := func() string {
		var s string
		if err := e.pool.QueryRow(e.ctx, `SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = 'public'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, args := range [][]string{{"list"}, {"status"}, {"uuids"}, {"logs"}, {"db-logs"}, {"inspect", "00000000-0000-4000-8000-000000000000"},
		{"restore", "--topic", "a", "--to-topic", "b"}, {"verify", "--count", "1", "--timeout", "1s"}} {
		out, err := e.cmd(args).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no archive index in this database") {
			t.Errorf("%v on a fresh database: %v\n%s", args, err, out)
		}
		if got := tables(); got != "" {
			t.Fatalf("%v created tables: %s", args, got)
		}
	}
	if out, err := e.cmd([]string{"connect"}).CombinedOutput(); err != nil {
		t.Fatalf("connect: %v\n%s", err, out)
	}
	if got := tables(); got != "" {
		t.Fatalf("connect created tables: %s", got)
	}
	if out, err := e.cmd([]string{"clean-duplicates"}).CombinedOutput(); err != nil {
		t.Fatalf("clean-duplicates: %v\n%s", err, out)
	}
	if got := tables(); !strings.Contains(got, "archive_messages") || !strings.Contains(got, "tributary_migrations") {
		t.Fatalf("clean-duplicates did not create the index: %s", got)
	}
	if out, err := e.cmd([]string{"list"}).CombinedOutput(); err != nil {
		t.Fatalf("list once the index exists: %v\n%s", err, out)
	}
}

// TestConnectReportsNATSOwnError: the NATS line of connect says what the
// NATS connection said, or that NATS is not configured, whatever else
// failed before it.
func TestConnectReportsNATSOwnError(t *testing.T) {
	e := newProcEnv(t, 1)
	dead := testkit.FreeAddr(t)
	out, err := e.cmd([]string{"connect"}, "NATS=nats://"+dead, "TARGET=host=127.0.0.1 port=1 dbname=none user=none connect_timeout=2").CombinedOutput()
	if err == nil {
		t.Fatalf("connect with PostgreSQL and NATS down succeeded:\n%s", out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			lines[f[0]] = l
		}
	}
	if !strings.Contains(lines["nats"], "FAIL") || !strings.Contains(lines["nats"], "NATS") || strings.Contains(lines["nats"], "port=1") {
		t.Errorf("nats line = %q, want the NATS connection's own error", lines["nats"])
	}
	if !strings.Contains(lines["postgres"], "FAIL") || !strings.Contains(lines["kafka"], "ok") || !strings.Contains(lines["s3"], "ok") {
		t.Errorf("connect says:\n%s", out)
	}
	c := exec.Command(binary, "connect")
	c.Env = e.cmd(nil, "TARGET=host=127.0.0.1 port=1 dbname=none user=none connect_timeout=2").Env
	c.Env = append(c.Env, "NATS=")
	out, _ = c.CombinedOutput()
	if !strings.Contains(string(out), "nats       not configured") {
		t.Errorf("connect without NATS, PostgreSQL down:\n%s", out)
	}
}

// TestReadyzNamesTheDependencyThatIsDown stops S3, then Kafka, under a
// running archiver: /readyz?verbose turns 503 naming each, and not the
// others, while /readyz (the pod's own readiness) stays 200.
func TestReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	e := newProcEnv(t, 1)
	addr, out := e.service(t)
	testkit.WaitStatus(t, addr, "/readyz?verbose", http.StatusOK, out)
	e.s3.Stop()
	body := testkit.WaitStatus(t, addr, "/readyz?verbose", http.StatusServiceUnavailable, out)
	if !strings.Contains(body, "[-] bucket "+e.bucket.Name+":") || strings.Contains(body, "[-] kafka:") || strings.Contains(body, "[-] postgres:") || strings.Contains(body, "[-] nats:") {
		t.Fatalf("with S3 down /readyz?verbose says:\n%s", body)
	}
	if code, body := testkit.Probe(addr, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with S3 down = %d %q: the pod itself is up", code, body)
	}
	if err := e.s3.Restart(e.ctx); err != nil {
		t.Fatal(err)
	}
	testkit.WaitStatus(t, addr, "/readyz?verbose", http.StatusOK, out)
	e.kafka.Close()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := testkit.Probe(addr, "/readyz?verbose")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "[-] kafka:") {
			if strings.Contains(body, "[-] bucket ") || strings.Contains(body, "[-] postgres:") || strings.Contains(body, "[-] nats:") {
				t.Fatalf("with Kafka down /readyz?verbose says:\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz?verbose never named kafka (last: %d %s)", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIdleArchiverStaysHealthy: an archiver with nothing to fetch keeps
// its fetch loop turning, so a short HEALTH_WINDOW never trips.
func TestIdleArchiverStaysHealthy(t *testing.T) {
	e := newProcEnv(t, 2)
	e.produce("quiet", 20, 100)
	addr, out := e.service(t, "HEALTH_WINDOW=2", "STORE_MODE=segment", "SEGMENT_SECONDS=0.3")
	deadline := time.Now().Add(90 * time.Second)
	for {
		var n int
		_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM archive_messages WHERE topic = 'quiet'`).Scan(&n)
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archived %d of 20; the archiver said:\n%s", n, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Caught up: watch four windows' worth of probes, each must be 200.
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if code, body := testkit.Probe(addr, "/healthz"); code != http.StatusOK {
			t.Fatalf("an idle archiver answered /healthz %d %q; it said:\n%s", code, body, out)
		}
	}
}

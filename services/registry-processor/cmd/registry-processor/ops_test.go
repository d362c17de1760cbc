package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

// /status of a running processor, rendered by headless Chromium: the
// counts on the page are the database's.
func TestStatusPageOfARunningProcessor(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the status page test needs headless Chromium: apt-get install chromium (or make apt-tools as root): %v", err)
	}
	h := newHarness(t, agentstub.Options{})
	h.generate(120, 0, 9)
	h.mustRun([]string{"initial-load"})
	h.mustRun([]string{"post"})

	addr := testkit.FreeAddr(t)
	c := exec.Command(binary)
	c.Env = h.env("RUN_AS_SERVICE=true", "METRICS_ADDR="+addr, "MIN_SLEEP=600", "MAX_SLEEP=600")
	var out lockedBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Signal(syscall.SIGTERM); _ = c.Wait() }()
	testkit.WaitStatus(t, addr, "/readyz", 200, &out)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dump := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--dump-dom", "http://"+addr+"/status")
	dom, err := dump.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	cell := func(id string) string {
		m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindSubmatch(dom)
		if m == nil {
			t.Fatalf("no element %s in the rendered page:\n%s", id, dom)
		}
		return string(m[1])
	}
	want := map[string]int{
		"event_by_corp_filing-processed":   h.count("SELECT count(*) FROM event_by_corp_filing WHERE process_date IS NOT NULL"),
		"event_by_corp_filing-outstanding": h.count("SELECT count(*) FROM event_by_corp_filing WHERE process_date IS NULL"),
		"credential_log-outstanding":       h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL"),
		"credential_log-errors":            h.count("SELECT count(*) FROM credential_log WHERE process_success = 'N'"),
		"posted":                           h.count("SELECT count(*) FROM credential_log WHERE process_success = 'Y'"),
	}
	if want["posted"] == 0 || want["event_by_corp_filing-processed"] == 0 {
		t.Fatalf("nothing processed or posted: %v", want)
	}
	for id, n := range want {
		if got := cell(id); got != fmt.Sprint(n) {
			t.Errorf("%s on the page = %q, the database says %d", id, got, n)
		}
	}
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

// Failed credentials are not retried by themselves (as in the original);
// `requeue --failed` puts them back, and `status --json` counts them.
func TestRequeueFailedAndStatusJSON(t *testing.T) {
	h := newHarness(t, agentstub.Options{ItemFailureRate: 0.3, Seed: 4})
	h.generate(80, 0, 13)
	h.mustRun([]string{"initial-load"})
	h.mustRun([]string{"post"})
	failed := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'N'")
	if failed == 0 {
		t.Fatal("the controller refused nothing; the test needs some failures")
	}
	var snap struct {
		Stages []struct {
			Table                          string
			Processed, Outstanding, Errors int
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(h.mustRun([]string{"status", "--json"}, "LOG_LEVEL=error")), &snap); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range snap.Stages {
		if s.Table == "credential_log" {
			found = true
			if s.Errors != failed {
				t.Errorf("status --json: %d credential errors, the database has %d", s.Errors, failed)
			}
		}
	}
	if !found {
		t.Fatalf("status --json has no credential_log stage: %+v", snap)
	}
	before := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL")
	out := h.mustRun([]string{"requeue", "--failed"})
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'N'"); n != 0 {
		t.Errorf("%d credentials still N after requeue:\n%s", n, out)
	}
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL"); n != before+failed {
		t.Errorf("%d outstanding after requeue, want %d + %d", n, before, failed)
	}
	if code, out := h.run(binary, []string{"requeue"}); code == 0 || !strings.Contains(out, "--failed") {
		t.Errorf("requeue without --failed: exit %d\n%s", code, out)
	}
}

// roleDSN creates a login role on the target's server with the grants
// given (run as SQL with %[1]s the role) and returns a DSN for it.
func (h *harness) roleDSN(name, grants string) string {
	h.t.Helper()
	cfg, err := pgx.ParseConfig(h.target)
	if err != nil {
		h.t.Fatal(err)
	}
	role := fmt.Sprintf("rp_%s_%d", name, time.Now().UnixNano()%1_000_000_000)
	h.query(func(c *pgx.Conn) error {
		_, err := c.Exec(context.Background(), fmt.Sprintf(`CREATE ROLE %[1]s LOGIN PASSWORD 'pw'; `+grants, role))
		return err
	})
	h.t.Cleanup(func() {
		h.query(func(c *pgx.Conn) error {
			_, err := c.Exec(context.Background(), fmt.Sprintf(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %[1]s;
				REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %[1]s; REVOKE ALL ON SCHEMA public FROM %[1]s;
				REVOKE ALL ON DATABASE %[2]s FROM %[1]s; DROP ROLE %[1]s`, role, cfg.Database))
			return err
		})
	})
	return fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=pw sslmode=disable", cfg.Host, cfg.Port, cfg.Database, role)
}

// status works under a read-only role and requeue under one that may
// change rows but not the schema: neither migrates.
func TestStatusAndRequeueDoNotMigrate(t *testing.T) {
	h := newHarness(t, agentstub.Options{ItemFailureRate: 0.5, Seed: 6})
	h.generate(20, 0, 14)
	h.mustRun([]string{"initial-load"})
	h.mustRun([]string{"post"})
	failed := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'N'")
	if failed == 0 {
		t.Fatal("nothing failed; the test needs failures to requeue")
	}
	ro := h.roleDSN("ro", `GRANT CONNECT ON DATABASE `+h.dbName()+` TO %[1]s; GRANT USAGE ON SCHEMA public TO %[1]s;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s`)
	out := h.mustRun([]string{"status"}, "TARGET="+ro)
	if !strings.Contains(out, fmt.Sprintf("credential_log Process Errors: %d", failed)) {
		t.Errorf("status under a read-only role:\n%s", out)
	}
	rw := h.roleDSN("rw", `GRANT CONNECT ON DATABASE `+h.dbName()+` TO %[1]s; GRANT USAGE ON SCHEMA public TO %[1]s;
		GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO %[1]s; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %[1]s`)
	out = h.mustRun([]string{"requeue", "--failed"}, "TARGET="+rw)
	if !strings.Contains(out, fmt.Sprintf("%d credentials", failed)) {
		t.Errorf("requeue under a role that cannot alter the schema: %s", out)
	}
	h.mustRun([]string{"requeue", "--corp", "0000001"}, "TARGET="+rw)
}

func (h *harness) dbName() string {
	cfg, err := pgx.ParseConfig(h.target)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg.Database
}

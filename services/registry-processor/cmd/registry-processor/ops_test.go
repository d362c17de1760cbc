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

package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

const heldSQL = "SELECT count(*) FROM rp_claims h JOIN credential_log c ON c.record_id = h.record_id WHERE c.process_date IS NULL AND h.unconfirmed_at IS NOT NULL"

// waitIssued waits until the stub has issued n credentials: a slow
// controller goes on issuing after its caller hung up.
func waitIssued(t *testing.T, a *agentstub.Stub, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(a.Credentials()) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(a.Credentials()); got < n {
		t.Fatalf("the stub issued %d credentials, want %d", got, n)
	}
}

// waitRun waits until the service has finished a run, showing what it
// said if it does not.
func (h *harness) waitRun(out fmt.Stringer) {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for h.count("SELECT count(*) FROM rp_runs WHERE verb = 'run' AND finished_at IS NOT NULL") == 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("no run finished:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metric reads one series' value from /metrics ("" labels: the bare name).
func metric(t *testing.T, addr, series string) float64 {
	t.Helper()
	code, body := testkit.Probe(addr, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	m := regexp.MustCompile(`(?m)^tributary_registry_processor_` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no series %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A slow controller: each credential takes 1.1 s, so any request takes
// longer than POST_TIMEOUT (1 s). Every request times out
// after it was sent; the controller goes on and issues every credential.
// The service holds them all as unconfirmed — on status, /status.json and
// its metrics — and sends none of them again; `post --unconfirmed` sends
// each of them once more, and says so.
func TestSlowControllerHoldsThenPostUnconfirmedSendsOnceMore(t *testing.T) {
	h := newHarness(t, agentstub.Options{PerCredential: 1100 * time.Millisecond})
	h.generate(12, 0, 31)
	h.mustRun([]string{"initial-load"})
	postable := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL AND coalesce(credential_json->>'expiry_date', '') = ''")
	if postable == 0 {
		t.Fatal("nothing to post")
	}

	addr := testkit.FreeAddr(t)
	c := exec.Command(binary)
	c.Env = h.env("RUN_AS_SERVICE=true", "METRICS_ADDR="+addr, "MIN_SLEEP=600", "MAX_SLEEP=600", "POST_TIMEOUT=1", "POST_BATCH=5",
		"POST_CONCURRENCY=4", "LOG_LEVEL=info")
	var out testkit.SyncBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	h.waitRun(&out)
	held := h.count(heldSQL)
	if held != postable {
		t.Fatalf("%d of %d credentials held as unconfirmed, want all (every request timed out):\n%s", held, postable, out.String())
	}
	waitIssued(t, h.agent, postable)
	for k, n := range h.received() {
		if n != 1 {
			t.Errorf("issued %d times by the slow controller: %s", n, k)
		}
	}
	requests := h.agent.Requests()
	for _, req := range h.agent.Log() {
		if req.Answered {
			t.Errorf("request %d was answered; the timeout should have cut every one", req.Seq)
		}
	}
	// Shown where an operator looks: the metrics, /status.json, status.
	testkit.WaitStatus(t, addr, "/readyz", 200, &out)
	if v := metric(t, addr, "unconfirmed"); int(v) != held {
		t.Errorf("unconfirmed gauge %v, want %d", v, held)
	}
	if v := metric(t, addr, `post_held_total{cause="timeout"}`); int(v) != held {
		t.Errorf("post_held_total{timeout} %v, want %d", v, held)
	}
	if v := metric(t, addr, "post_unconfirmed_total"); int(v) != requests {
		t.Errorf("post_unconfirmed_total %v, want the %d requests", v, requests)
	}
	if v := metric(t, addr, "post_resent_total"); v != 0 {
		t.Errorf("post_resent_total %v before anything was sent again", v)
	}
	_, body := testkit.Probe(addr, "/status.json")
	var snap struct {
		Held struct{ Unconfirmed int }   `json:"held"`
		Runs []struct{ Unconfirmed int } `json:"runs"`
	}
	if err := json.Unmarshal([]byte(body), &snap); err != nil || snap.Held.Unconfirmed != held || len(snap.Runs) == 0 || snap.Runs[0].Unconfirmed != held {
		t.Errorf("/status.json held %+v (%v):\n%s", snap, err, body)
	}
	_ = c.Process.Signal(syscall.SIGTERM)
	_ = c.Wait()

	if st := h.mustRun([]string{"status"}); !strings.Contains(st, fmt.Sprintf("Held: %d credentials unconfirmed", held)) {
		t.Errorf("status:\n%s", st)
	}
	// A plain post sends nothing again.
	h.mustRun([]string{"post"}, "POST_TIMEOUT=1")
	if h.agent.Requests() != requests {
		t.Errorf("post sent %d requests of held credentials", h.agent.Requests()-requests)
	}
	// Told to, it sends each once more; the controller is fast again.
	h.agent.SetOptions(agentstub.Options{})
	h.mustRun([]string{"post", "--unconfirmed"})
	if n := h.count(heldSQL); n != 0 {
		t.Errorf("%d still held after post --unconfirmed", n)
	}
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'Y'"); n != postable {
		t.Errorf("%d Y after post --unconfirmed, want %d", n, postable)
	}
	for k, n := range h.received() {
		if n != 2 {
			t.Errorf("issued %d times, want twice (once slow, once sent again): %s", n, k)
		}
	}
}

// A controller that drops the connection after reading and issuing:
// the credentials are held, never sent again by themselves.
func TestDroppedConnectionHolds(t *testing.T) {
	h := newHarness(t, agentstub.Options{DropRate: 1})
	h.generate(10, 0, 32)
	h.mustRun([]string{"initial-load"})
	postable := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL AND coalesce(credential_json->>'expiry_date', '') = ''")
	h.mustRun([]string{"post"})
	h.mustRun([]string{"post"})
	if n := h.count(heldSQL); n != postable || n == 0 {
		t.Errorf("%d held, want all %d", n, postable)
	}
	for k, n := range h.received() {
		if n != 1 {
			t.Errorf("issued %d times: %s", n, k)
		}
	}
}

// SIGTERM while requests are in flight: no request starts after it, those
// in flight finish within SHUTDOWN_GRACE and are written back, nothing is
// held, and the next `post` sends exactly the rest: every credential once.
// With a grace too short for the requests in flight, they are cut and
// held, and still nothing is sent twice.
func TestSIGTERMMidPosting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace string
		each  time.Duration // per credential: a request of one takes this long
		cut   bool
	}{{"in flight finish", "20", 300 * time.Millisecond, false}, {"grace too short", "1", 2 * time.Second, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, agentstub.Options{PerCredential: tc.each})
			h.generate(15, 0, 33)
			h.mustRun([]string{"initial-load"})
			postable := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL AND coalesce(credential_json->>'expiry_date', '') = ''")
			c := exec.Command(binary, "post")
			c.Env = h.env("POST_BATCH=5", "POST_CONCURRENCY=2", "SHUTDOWN_GRACE="+tc.grace, "POST_TIMEOUT=60", "LOG_LEVEL=info")
			var out testkit.SyncBuffer
			c.Stdout, c.Stderr = &out, &out
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			for h.agent.Requests() < 2 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if err := c.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := c.Wait()
			atSignal := 2
			if took := time.Since(start); took > 25*time.Second {
				t.Errorf("exit %v after SIGTERM", took)
			}
			if err != nil && !tc.cut {
				t.Fatalf("post after SIGTERM: %v\n%s", err, out.String())
			}
			time.Sleep(5*tc.each + time.Second) // a cut request's credentials are still being issued
			log := h.agent.Log()
			if len(log) > atSignal {
				t.Errorf("%d requests, %d were in flight at SIGTERM: a request started after it", len(log), atSignal)
			}
			held := h.count(heldSQL)
			if claimed := h.count("SELECT count(*) FROM rp_claims WHERE unconfirmed_at IS NULL"); claimed != 0 {
				t.Errorf("%d rows left claimed", claimed)
			}
			if tc.cut {
				if held == 0 {
					t.Errorf("nothing held though the grace cut the requests in flight:\n%s", out.String())
				}
			} else {
				if held != 0 {
					t.Errorf("%d held though the requests in flight had time to finish:\n%s", held, out.String())
				}
				for _, req := range log {
					if !req.Answered {
						t.Errorf("request %d in flight at SIGTERM was not let finish", req.Seq)
					}
				}
			}
			h.agent.SetOptions(agentstub.Options{})
			h.mustRun([]string{"post"})
			if n := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'Y'"); n != postable-held {
				t.Errorf("%d Y, want %d postable less %d held", n, postable, held)
			}
			for k, n := range h.received() {
				if n != 1 {
					t.Errorf("issued %d times: %s", n, k)
				}
			}
		})
	}
}

// The lock's connection dies under a working processor (terminated by
// the server): that processor stops, the one waiting takes over, and no
// credential reaches the controller twice — the claims keep them apart.
func TestLostLockStopsTheWork(t *testing.T) {
	h := newHarness(t, agentstub.Options{PerCredential: 200 * time.Millisecond})
	h.generate(60, 0, 34)
	h.mustRun([]string{"initial-load"})
	first := exec.Command(binary, "post")
	first.Env = h.env("POST_CONCURRENCY=2", "LOG_LEVEL=info")
	var out1 testkit.SyncBuffer
	first.Stdout, first.Stderr = &out1, &out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for h.agent.Requests() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	second := exec.Command(binary, "post")
	second.Env = h.env("POST_CONCURRENCY=2", "LOG_LEVEL=info")
	var out2 testkit.SyncBuffer
	second.Stdout, second.Stderr = &out2, &out2
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out2.String(), "waiting") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var killed int
	h.query(func(c *pgx.Conn) error {
		return c.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed)
	})
	if killed != 1 {
		t.Fatalf("terminated %d lock holders, want 1", killed)
	}
	err1 := first.Wait()
	if err1 == nil || !strings.Contains(out1.String(), "lost the registry-processor lock") {
		t.Errorf("the processor that lost its lock: %v\n%s", err1, out1.String())
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("the second processor: %v\n%s", err, out2.String())
	}
	time.Sleep(time.Second)
	for k, n := range h.received() {
		if n != 1 {
			t.Errorf("issued %d times: %s", n, k)
		}
	}
	held := h.count(heldSQL)
	posted := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'Y'")
	if len(h.received()) != posted+held {
		t.Errorf("controller has %d, %d Y and %d held", len(h.received()), posted, held)
	}
}

// A user or password in CONTROLLER_URL never shows: not in the
// logs, not in rp_runs, not on the status page, not in process_msg.
func TestControllerURLRedacted(t *testing.T) {
	h := newHarness(t, agentstub.Options{FailureRate: 1, FailureStatus: 503})
	h.generate(5, 0, 35)
	h.mustRun([]string{"initial-load"})
	secretURL := strings.Replace(h.agent.URL, "http://", "http://issuer:s3cr3tpw@", 1)
	addr := testkit.FreeAddr(t)
	c := exec.Command(binary)
	c.Env = h.env("CONTROLLER_URL="+secretURL, "RUN_AS_SERVICE=true", "METRICS_ADDR="+addr, "MIN_SLEEP=600", "MAX_SLEEP=600",
		"POST_RETRIES=1", "CONTROLLER_MAX_ERRORS=1", "LOG_LEVEL=debug")
	var out testkit.SyncBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	h.waitRun(&out)
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'N'"); n == 0 {
		t.Fatalf("no failure recorded; the test needs the controller's refusals in process_msg:\n%s", out.String())
	}
	_, page := testkit.Probe(addr, "/status")
	_, js := testkit.Probe(addr, "/status.json")
	runs := h.text(`SELECT coalesce(string_agg(coalesce(error, ''), ' '), '') FROM rp_runs`)
	msgs := h.text(`SELECT coalesce(string_agg(coalesce(process_msg, ''), ' '), '') FROM credential_log`)
	_ = c.Process.Signal(syscall.SIGTERM)
	_ = c.Wait()
	for what, text := range map[string]string{"logs": out.String(), "/status": page, "/status.json": js, "rp_runs": runs, "process_msg": msgs} {
		for _, secret := range []string{"s3cr3tpw", "issuer:"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", what, secret, text)
			}
		}
	}
	if !strings.Contains(msgs, strings.TrimPrefix(h.agent.URL, "http://")) {
		t.Errorf("process_msg does not name the controller (without its credentials): %s", msgs)
	}
}

package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tributary.dev/libs/testkit/agentstub"
	"tributary.dev/libs/testkit/svc"
)

func TestHelpListsEveryVariable(t *testing.T) {
	out := svc.CheckHelp(t, binary, "../../README.md", &Config{})
	for _, verb := range []string{"migrate", "initial-load", "post", "status [--json]", "requeue --failed", "testdata generate"} {
		if !strings.Contains(out, "registry-processor "+verb) {
			t.Errorf("--help lacks the verb %q", verb)
		}
	}
	// The original ran every 15 minutes: so do we, unless told otherwise.
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "MIN_SLEEP" && f[2] != "900" {
			t.Errorf("MIN_SLEEP default: %q", l)
		}
	}
}

// A fresh database: initial-load queues and generates every corp, post
// delivers every credential once, status counts them; then new source
// events, one run later, are found, generated and posted too, and the
// run is announced.
func TestInitialLoadThenRun(t *testing.T) {
	h := newHarness(t, agentstub.Options{})
	h.generate(300, 0, 7)
	h.mustRun([]string{"initial-load"})
	queued := h.count("SELECT count(*) FROM event_by_corp_filing")
	if queued < 300 {
		t.Fatalf("%d corps queued, want every one of the 300", queued)
	}
	// Rows a corp's future-dated events queued again wait for their day.
	if n := h.count("SELECT count(*) FROM event_by_corp_filing WHERE process_date IS NULL AND last_event_date <= (now() AT TIME ZONE 'America/Los_Angeles')"); n != 0 {
		t.Errorf("%d queue rows left unprocessed", n)
	}
	creds := h.count("SELECT count(*) FROM credential_log")
	held := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'A'")
	if creds == 0 || held == 0 {
		t.Fatalf("%d credentials, %d address credentials held: want both", creds, held)
	}
	h.mustRun([]string{"post"})
	posted := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'Y'")
	waiting := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL")
	got := h.received()
	total := 0
	for k, n := range got {
		total += n
		if n != 1 {
			t.Errorf("posted %d times: %s", n, k)
		}
	}
	if total != posted || posted+held+waiting != creds {
		t.Errorf("controller got %d, %d rows Y, %d held, %d waiting (future expiry), %d in all", total, posted, held, waiting, creds)
	}
	if n := len(h.eventsOn("bcreg.credentials.posted")); n == 0 {
		t.Error("no bcreg.credentials.posted event")
	}

	status := h.mustRun([]string{"status"})
	for _, want := range []string{"Table: event_by_corp_filing", "Table: credential_log", "Process Errors"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}

	// New events on existing corps: one run finds, generates and posts.
	h.generate(0, 40, 8)
	before := creds
	h.mustRun(nil)
	if n := h.count("SELECT count(*) FROM credential_log"); n <= before {
		t.Errorf("the run after new events made no credential (%d before, %d after)", before, n)
	}
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL AND coalesce(credential_json->>'expiry_date', '') = ''"); n != 0 {
		t.Errorf("%d postable credentials left after the run", n)
	}
	processed := h.eventsOn("bcreg.events.processed")
	if len(processed) == 0 {
		t.Fatal("no bcreg.events.processed event")
	}
	if e := processed[len(processed)-1]; e["system"] != "BC_REG" || e["to_event"].(float64) <= e["from_event"].(float64) {
		t.Errorf("processed event %v", e)
	}
	for k, n := range h.received() {
		if n != 1 {
			t.Errorf("posted %d times: %s", n, k)
		}
	}
}

// A flaky controller (10% refused unread with 503, 5% stalled past
// POST_TIMEOUT after issuing): the refused requests are sent again and
// everything else posts; the stalled ones are held as unconfirmed, never
// sent again by a plain `post`, so the controller has every credential
// once. `post --unconfirmed` sends the held ones once more.
func TestFlakyControllerNothingTwiceUntilTold(t *testing.T) {
	h := newHarness(t, agentstub.Options{FailureRate: 0.1, FailureStatus: 503, StallRate: 0.05, StallFor: 2 * time.Second, Seed: 3})
	h.generate(150, 0, 11)
	h.mustRun([]string{"initial-load"})
	const waiting = "SELECT count(*) FROM credential_log c WHERE process_date IS NULL AND NOT EXISTS (SELECT 1 FROM rp_claims h WHERE h.record_id = c.record_id) AND coalesce(credential_json->>'expiry_date', '') = ''"
	for i := 0; i < 10 && h.count(waiting) > 0; i++ {
		h.run(binary, []string{"post"}, "POST_TIMEOUT=1")
	}
	if n := h.count(waiting); n != 0 {
		t.Errorf("%d credentials still waiting after ten posting runs", n)
	}
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'N'"); n != 0 {
		t.Errorf("%d credentials failed for good; the controller's refusals are all transient", n)
	}
	held := h.count(heldSQL)
	stalled := 0
	for _, req := range h.agent.Log() {
		if req.Stalled {
			stalled += len(req.Credentials)
		}
	}
	if held == 0 || held != stalled {
		t.Fatalf("%d credentials held, the stub stalled %d", held, stalled)
	}
	time.Sleep(2500 * time.Millisecond) // the stalls' answers are gone by now
	posted := h.count("SELECT count(*) FROM credential_log WHERE process_success = 'Y'")
	got := h.received()
	if len(got) != posted+held {
		t.Errorf("controller got %d distinct credentials, %d rows are Y and %d held", len(got), posted, held)
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("issued %d times before post --unconfirmed: %s", n, k)
		}
	}
	if out := h.mustRun([]string{"status"}); !strings.Contains(out, fmt.Sprintf("Held: %d credentials unconfirmed", held)) {
		t.Errorf("status does not show the %d held:\n%s", held, out)
	}

	h.agent.SetOptions(agentstub.Options{})
	h.mustRun([]string{"post", "--unconfirmed"})
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL AND coalesce(credential_json->>'expiry_date', '') = ''"); n != 0 {
		t.Errorf("%d credentials left after post --unconfirmed", n)
	}
	twice := 0
	for k, n := range h.received() {
		switch n {
		case 1:
		case 2:
			twice++
		default:
			t.Errorf("issued %d times: %s", n, k)
		}
	}
	if twice != held {
		t.Errorf("%d credentials issued twice, want the %d held and sent again", twice, held)
	}
	if n := h.count("SELECT count(*) FROM rp_runs WHERE verb = 'post' AND note = $1", fmt.Sprintf("--unconfirmed: %d sent again", held)); n != 1 {
		t.Errorf("rp_runs does not record post --unconfirmed sending %d again", held)
	}
}

// Two processors on one database: one works, the other waits for it.
func TestSecondProcessorWaits(t *testing.T) {
	h := newHarness(t, agentstub.Options{Latency: 50 * time.Millisecond})
	h.generate(200, 0, 5)
	h.mustRun([]string{"initial-load"})
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, outs[i] = h.run(binary, []string{"post"}, "LOG_LEVEL=info", "POST_CONCURRENCY=2")
		}()
		time.Sleep(300 * time.Millisecond)
	}
	wg.Wait()
	waited := strings.Contains(outs[0], "waiting") || strings.Contains(outs[1], "waiting")
	if !waited {
		t.Errorf("neither processor waited for the lock:\n%s\n---\n%s", outs[0], outs[1])
	}
	for k, n := range h.received() {
		if n != 1 {
			t.Errorf("posted %d times: %s", n, k)
		}
	}
}

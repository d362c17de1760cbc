package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/status"
	"tributary.dev/services/registry-processor/migrations"
)

// fill writes a database with known counts through epdb: three corps
// queued, one failed ("boom"), one skipped, one processed with three
// credentials, of which one posted and one failed; one finished run.
//
//	event_by_corp_filing: processed 3, outstanding 0, errors 1
//	corp_history_log:     processed 1, outstanding 0, errors 0
//	credential_log:       processed 2, outstanding 1, errors 1
func fill(t *testing.T) *epdb.DB {
	t.Helper()
	env := svc.New(t, svc.Options{Postgres: true, Migrations: migrations.FS, Service: "registry-processor"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := epdb.New(env.Pool, 10*time.Second)
	last := epdb.Mark{EventID: 10, EventDate: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	if err := db.Queue(ctx, []string{"0641655", "FM1", "XX1"}, epdb.Mark{EventDate: time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC)}, last); err != nil {
		t.Fatal(err)
	}
	q, err := db.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	c := func(h string) epdb.Cred {
		return epdb.Cred{TypeCd: "REG", ID: "BC0641655", Schema: "registration.registries.ca", Version: "1.0.42",
			JSON: `{"expiry_date": "", "n": "` + h + `"}`, Hash: h}
	}
	if _, err := db.Commit(ctx, []epdb.Outcome{
		{Row: q[0], Success: "Y", Msg: "BC", CorpState: "ACT", CorpJSON: []byte(`{}`), Creds: []epdb.Cred{c("a"), c("b"), c("c")}},
		{Row: q[1], Success: "N", Msg: "boom"},
		{Row: q[2], Success: "S", Msg: "XX: Skipped, not in scope"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Claim(ctx, "c", 0, 2, time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MarkPosted(ctx, []epdb.Posted{{RecordID: 1, Claim: "c", Success: true, Result: "thread-1"}, {RecordID: 2, Claim: "c", Result: "rejected"}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	if err := db.RecordRun(ctx, &epdb.Run{Verb: "post", Started: t0, Finished: t0.Add(90 * time.Second), Posted: 1, Failed: 1}); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestText(t *testing.T) {
	db := fill(t)
	snap, err := status.Take(context.Background(), db, status.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := status.Text(&b, snap); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	// The original's print(): fields joined by one space, the second
	// line's ':       ' plus print's separator giving eight spaces. An
	// error row is its corp, record, time and message, not the whole row.
	want := []string{
		"BC_REG : Table: event_by_corp_filing Processed: 3 Outstanding: 0",
		"BC_REG :        event_by_corp_filing Process Errors: 1",
		"       Recent errors:",
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
	if !regexp.MustCompile(`^         \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  corp FM1  record 2  boom$`).MatchString(lines[3]) {
		t.Errorf("recent errors line %q: want FM1's row with boom", lines[3])
	}
	want2 := []string{
		"BC_REG : Table: corp_history_log Processed: 1 Outstanding: 0",
		"BC_REG :        corp_history_log Process Errors: 0",
		"BC_REG : Table: credential_log Processed: 2 Outstanding: 1",
		"BC_REG :        credential_log Process Errors: 1",
		"       Recent errors:",
	}
	for i, w := range want2 {
		if lines[4+i] != w {
			t.Errorf("line %d = %q, want %q", 4+i, lines[4+i], w)
		}
	}
	if !strings.HasSuffix(lines[9], "corp 0641655 REG  record 2  rejected") || strings.Contains(b.String(), "expiry_date") {
		t.Errorf("credential error line %q (no credential JSON in the status)", lines[9])
	}
	if lines[10] != "Held: 0 credentials unconfirmed (sent, never answered: `post --unconfirmed` sends them again); 0 queue rows waiting for a future effective date" {
		t.Errorf("held line %q", lines[10])
	}
}

// The cache runs one set of queries per interval, however many ask.
func TestCacheRefreshesAtMostEveryInterval(t *testing.T) {
	db := fill(t)
	probes := 0
	c := status.NewCache(db, status.Options{Every: time.Hour, Probes: status.Probes{Ready: func(context.Context) error { probes++; return nil }}})
	for range 20 {
		s, err := c.Get(context.Background())
		if err != nil || s.Stages[2].Outstanding != 1 || s.Controller == nil || !s.Controller.Ready {
			t.Fatalf("%+v %v", s, err)
		}
	}
	if probes != 1 {
		t.Errorf("%d refreshes for 20 visits within the interval, want 1", probes)
	}
}

const chromiumHowTo = "the status page test needs headless Chromium: apt-get install chromium (or make apt-tools as root)"

// TestPageInBrowser loads /status in headless Chromium and reads the
// counts from the DOM it rendered.
func TestPageInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("%s: %v", chromiumHowTo, err)
	}
	db := fill(t)
	srv := httptest.NewServer(status.Handler(status.NewCache(db, status.Options{Probes: status.Probes{
		Newest: func(context.Context) (int64, time.Time, error) {
			return 25, time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC), nil
		},
		Ready: func(context.Context) error { return nil },
		Lock:  func() string { return "holding" },
	}})))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--dump-dom", srv.URL+"/status")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	cell := func(id string) string {
		m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindSubmatch(dom)
		if m == nil {
			t.Errorf("no element %s in the rendered page", id)
			return ""
		}
		return string(m[1])
	}
	want := map[string]string{
		"event_by_corp_filing-processed": "3", "event_by_corp_filing-outstanding": "0", "event_by_corp_filing-errors": "1",
		"corp_history_log-processed": "1", "corp_history_log-outstanding": "0", "corp_history_log-errors": "0",
		"credential_log-processed": "2", "credential_log-outstanding": "1", "credential_log-errors": "1",
		// 2 answers in the 5-minute window: 0.4 per minute
		"posted": "1", "post-failed": "1", "post-rate": "0.4",
		// the mark is event 10 at 12:00, the newest 25 at 12:30
		"unconfirmed": "0", "future-dated": "0", "newest-event": "25", "high-water": "10", "lag": "30m0s",
		"controller": "ready", "lock": "holding",
	}
	for id, w := range want {
		if got := cell(id); got != w {
			t.Errorf("%s = %q, want %q", id, got, w)
		}
	}
	if !regexp.MustCompile(`<tr class="run"><td>post</td><td>[^<]+</td><td>1m30s</td><td>0</td><td>0</td><td>1</td><td>1</td><td>0</td>`).Match(dom) {
		t.Errorf("last runs table lacks the post run:\n%s", dom)
	}
	if !strings.Contains(string(dom), `http-equiv="refresh"`) {
		t.Error("the page does not refresh itself")
	}

	// /status.json: the same counts.
	resp, err := srv.Client().Get(srv.URL + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s status.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if len(s.Stages) != 3 || s.Stages[2].Processed != 2 || s.Stages[2].Outstanding != 1 || s.Stages[0].Errors != 1 || len(s.Runs) != 1 ||
		s.Source == nil || s.Source.Seconds != 1800 || s.Stages[0].RecentErrors[0].Corp != "FM1" {
		t.Errorf("status.json = %+v", s)
	}
}

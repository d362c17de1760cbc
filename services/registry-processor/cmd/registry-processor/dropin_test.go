package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/libs/testkit/agentstub"
)

// onSource runs SQL on the COLIN source.
func (h *harness) onSource(sql string, args ...any) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, h.source)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
}

// text reads one text value from the target.
func (h *harness) text(sql string, args ...any) string {
	h.t.Helper()
	var s string
	h.query(func(c *pgx.Conn) error { return c.QueryRow(context.Background(), sql, args...).Scan(&s) })
	return s
}

// pacificNow is COLIN's clock: naive Pacific wall time.
func pacificNow() time.Time {
	loc, _ := time.LoadLocation("America/Los_Angeles")
	n := time.Now().In(loc)
	return time.Date(n.Year(), n.Month(), n.Day(), n.Hour(), n.Minute(), n.Second(), 0, time.UTC)
}

func ts(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

// addCorp adds a BC company to the source: incorporated (a FILE event
// with an ICORP filing) at recognised, named name, active, with a
// business number; ids from base.
func (h *harness) addCorp(num string, base int64, recognised, filed time.Time, name string) {
	h.t.Helper()
	h.onSource(fmt.Sprintf(`
INSERT INTO bc_registries.corporation (corp_num, corp_typ_cd, recognition_dts, bn_9, bn_15) VALUES ('%[1]s', 'BC', '%[2]s', '123456789', '123456789BC0001');
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp) VALUES (%[3]d, '%[1]s', 'FILE', '%[4]s');
INSERT INTO bc_registries.filing (event_id, filing_typ_cd, effective_dt) VALUES (%[3]d, 'ICORP', '%[2]s');
INSERT INTO bc_registries.corp_name (corp_num, corp_name_typ_cd, start_event_id, corp_name_seq_num, corp_nme) VALUES ('%[1]s', 'CO', %[3]d, 1, '%[5]s');
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, state_typ_cd) VALUES ('%[1]s', %[3]d, 'ACT');`,
		num, ts(recognised), base, ts(filed), name))
}

// Dates print as the pytz the original ran printed them: before 2024.2
// (the default) a date of 1895 is -08:00 and the minimum date
// 0002-01-01T08:00:00+00:00; with PYTZ_TZDATA=2024b local mean time,
// -07:53. Started with the other setting on the database, the processor
// refuses, naming the setting, and posts nothing.
func TestDatesAsThePytzRulesAndTheRefusal(t *testing.T) {
	for _, tc := range []struct {
		setting, other, recog, min string
	}{
		{"pre-2024b", "2024b", "1895-06-01T08:00:00+00:00", "0002-01-01T08:00:00+00:00"},
		{"2024b", "pre-2024b", "1895-06-01T07:53:00+00:00", "0002-01-01T07:53:00+00:00"},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			h := newHarness(t, agentstub.Options{})
			h.generate(10, 0, 41)
			h.addCorp("0000901", 990000001, time.Date(1895, 6, 1, 0, 0, 0, 0, time.UTC), pacificNow().Add(-2*time.Hour), "OLD MILL LTD.")
			h.mustRun([]string{"initial-load"}, "PYTZ_TZDATA="+tc.setting)
			if got := h.text(`SELECT credential_json->>'registration_date' FROM credential_log WHERE corp_num = '0000901' AND credential_type_cd = 'REG'`); got != tc.recog {
				t.Errorf("registration_date %q, want %q", got, tc.recog)
			}
			if got := h.text(`SELECT prev_event->>'event_date' FROM credential_log WHERE corp_num = '0000901' LIMIT 1`); got != tc.min {
				t.Errorf("prev_event date %q, want %q", got, tc.min)
			}
			code, out := h.run(binary, []string{"post"}, "PYTZ_TZDATA="+tc.other)
			if code == 0 || !strings.Contains(out, "PYTZ_TZDATA="+tc.other+" disagrees with credential_log") || !strings.Contains(out, "Set PYTZ_TZDATA="+tc.setting) {
				t.Errorf("post with the other setting: exit %d\n%s", code, out)
			}
			if h.agent.Requests() != 0 {
				t.Errorf("%d requests posted under the wrong setting", h.agent.Requests())
			}
			h.mustRun([]string{"post"}, "PYTZ_TZDATA="+tc.setting)
			if h.agent.Requests() == 0 {
				t.Error("nothing posted under the right setting")
			}
		})
	}
}

// business_number credentials go out with reason_description "" (the
// original's stored reason), never null; corp_json is the original's dict:
// its audit script's query reads it, and its business-number back-fill,
// rewritten here in Python from the dict it reads, rebuilds the very
// credential we stored.
func TestBusinessNumberReasonAndCorpJSONForTheOriginalsScripts(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("this test reads corp_json with Python as the original's scripts do: apt-get install python3: %v", err)
	}
	h := newHarness(t, agentstub.Options{})
	h.generate(10, 0, 42)
	h.addCorp("0000903", 990000101, time.Date(1999, 3, 1, 9, 30, 0, 0, time.UTC), pacificNow().Add(-2*time.Hour), "NUMBERED LTD.")
	h.mustRun([]string{"initial-load"})
	h.mustRun([]string{"post"})
	bnc := 0
	for _, c := range h.agent.Credentials() {
		if c.Schema != "business_number.registries.ca" {
			continue
		}
		bnc++
		if r, ok := c.Attributes["reason_description"].(string); !ok || r != "" {
			t.Fatalf("business_number reason_description %#v, want \"\"", c.Attributes["reason_description"])
		}
	}
	if bnc == 0 {
		t.Fatal("no business_number credential posted")
	}
	// The audit script (populate_audit_table.py) reads these in SQL.
	if got := h.text(`SELECT corp_json->>'corp_typ_cd' || ' ' || corp_state || ' ' || (last_event->>'event_id') FROM corp_history_log WHERE corp_num = '0000903'`); !strings.HasPrefix(got, "BC ACT ") {
		t.Errorf("audit columns %q", got)
	}
	body := h.text(`SELECT corp_json::text FROM corp_history_log WHERE corp_num = '0000903'`)
	want := h.text(`SELECT credential_hash FROM credential_log WHERE corp_num = '0000903' AND credential_type_cd = 'BNC'`)
	// generate_bn_credential over the dict json.loads gives (psycopg2
	// hands json columns over the same way), dates being the strings the
	// encoder wrote, stored with json.dumps(sort_keys=True) as
	// insert_json_credential stores it.
	script := `
import hashlib, json, sys
corp_info = json.loads(sys.stdin.read())
for key in ("current_date", "corp_num", "jurisdiction", "corp_typ_cd", "corp_type", "recognition_dts", "bn_9",
            "org_names", "org_name_assumed", "office", "corp_state", "parties", "reg_summary"):
    assert key in corp_info, key
assert list(corp_info)[0] == "current_date" and list(corp_info)[-1] == "reg_summary", list(corp_info)
prefix = "BC" if corp_info["corp_typ_cd"] in ("BC", "ULC", "CC", "BEN") else ""
cred = {"registration_id": prefix + corp_info["corp_num"], "business_number": corp_info["bn_9"].strip(),
        "effective_date": corp_info["recognition_dts"], "expiry_date": ""}
print(hashlib.sha256(json.dumps(cred, sort_keys=True).encode("utf-8")).hexdigest())
print(corp_info["corp_state"][0]["op_state_typ_cd"], corp_info["org_names"][0]["corp_nme"], corp_info["recognition_dts"])
`
	c := exec.Command(python, "-c", script)
	c.Stdin = strings.NewReader(body)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s\ncorp_json: %s", err, out, body)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] != want {
		t.Errorf("the back-fill's hash %q, credential_log has %q\n%s", lines[0], want, out)
	}
	if lines[1] != "ACT NUMBERED LTD. 1999-03-01T17:30:00+00:00" {
		t.Errorf("corp_json read back: %q", lines[1])
	}
}

// A corp queued but missing from the source is skipped (S), as the
// original's scope check skips a corp with no corporation row: no history
// row, and requeue --failed leaves it alone.
func TestMissingCorpIsSkipped(t *testing.T) {
	h := newHarness(t, agentstub.Options{})
	h.generate(10, 0, 43)
	h.mustRun([]string{"initial-load"})
	h.mustRun([]string{"requeue", "--corp", "X999999"})
	h.mustRun(nil)
	if got := h.text(`SELECT process_success || '|' || process_msg FROM event_by_corp_filing WHERE corp_num = 'X999999'`); got != "S|: Skipped, not in scope" {
		t.Errorf("queue row %q", got)
	}
	if n := h.count(`SELECT count(*) FROM corp_history_log WHERE corp_num = 'X999999'`); n != 0 {
		t.Errorf("%d history rows for a corp not in the source", n)
	}
	if out := h.mustRun([]string{"requeue", "--failed"}); !strings.Contains(out, "requeued: 0 queue rows") {
		t.Errorf("requeue --failed: %s", out)
	}
}

// Two future-dated changes, effective at T1 (in 25 s) and T2 (tomorrow):
// the corp's row is released at T1, so the change effective at T1 is
// issued then, not at T2; its window is still the original's (the first
// future event's timestamp to the last one's effective date).
func TestFutureDatedReleasedAtTheFirst(t *testing.T) {
	h := newHarness(t, agentstub.Options{})
	h.generate(10, 0, 44)
	now := pacificNow()
	t1, t2 := now.Add(25*time.Second), now.Add(24*time.Hour)
	h.addCorp("0000904", 990000201, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(-time.Hour), "FIRST NAME LTD.")
	h.onSource(fmt.Sprintf(`
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp) VALUES
 (990000202, '0000904', 'FILE', '%[1]s'), (990000203, '0000904', 'FILE', '%[2]s');
INSERT INTO bc_registries.filing (event_id, filing_typ_cd, effective_dt) VALUES (990000202, 'CONTI', '%[3]s'), (990000203, 'CONTI', '%[4]s');
UPDATE bc_registries.corp_name SET end_event_id = 990000202 WHERE corp_num = '0000904';
INSERT INTO bc_registries.corp_name (corp_num, corp_name_typ_cd, start_event_id, end_event_id, corp_name_seq_num, corp_nme) VALUES
 ('0000904', 'CO', 990000202, 990000203, 2, 'SECOND NAME LTD.'), ('0000904', 'CO', 990000203, NULL, 3, 'THIRD NAME LTD.');`,
		ts(now.Add(-50*time.Minute)), ts(now.Add(-40*time.Minute)), ts(t1), ts(t2)))
	h.mustRun([]string{"initial-load"})
	names := func() string {
		return h.text(`SELECT coalesce(string_agg(credential_json->>'entity_name', ',' ORDER BY record_id), '') FROM credential_log
			WHERE corp_num = '0000904' AND credential_type_cd = 'REG'`)
	}
	if got := names(); got != "FIRST NAME LTD." {
		t.Fatalf("REG names before T1: %q", got)
	}
	if got := h.text(`SELECT prev_event_id || ' ' || last_event_id || ' ' || last_event_date || ' ' || rp_release_date FROM event_by_corp_filing
		WHERE corp_num = '0000904' AND process_date IS NULL`); got != fmt.Sprintf("990000202 990000203 %s %s", ts(t2), ts(t1)) {
		t.Errorf("requeued row %q: want the original's window and release at T1", got)
	}
	if out := h.mustRun([]string{"status"}); !strings.Contains(out, "1 queue rows waiting for a future effective date (next "+ts(t1)) {
		t.Errorf("status:\n%s", out)
	}
	time.Sleep(time.Until(time.Now().Add(t1.Sub(pacificNow()) + 2*time.Second)))
	h.mustRun(nil)
	if got := names(); got != "FIRST NAME LTD.,SECOND NAME LTD." {
		t.Errorf("REG names after T1: %q, want the change effective at T1 issued", got)
	}
	if got := h.text(`SELECT count(*)::text || ' ' || max(rp_release_date)::text FROM event_by_corp_filing WHERE corp_num = '0000904' AND process_date IS NULL`); got != "1 "+t2.Format("2006-01-02 15:04:05") {
		t.Errorf("waiting for T2: %q", got)
	}
}

// A NULL in event.corp_num (a source copy without the constraint) under
// one corp's new state: that corp is N naming the table, column and
// value; the other corps of the run are processed and posted.
func TestNullEventCorpNumFailsOnlyItsCorp(t *testing.T) {
	h := newHarness(t, agentstub.Options{})
	h.generate(40, 0, 45)
	h.mustRun([]string{"initial-load"})
	h.mustRun([]string{"post"})
	h.generate(0, 30, 46)
	now := pacificNow()
	h.addCorp("0000905", 990000301, time.Date(2005, 5, 5, 0, 0, 0, 0, time.UTC), now.Add(-3*time.Minute), "GOOD LTD.")
	h.addCorp("0000906", 990000302, time.Date(2006, 6, 6, 0, 0, 0, 0, time.UTC), now.Add(-3*time.Minute), "BAD LTD.")
	h.onSource(fmt.Sprintf(`
ALTER TABLE bc_registries.event ALTER COLUMN corp_num DROP NOT NULL;
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp) VALUES (990000303, NULL, 'ADMIN', '%s');
UPDATE bc_registries.corp_state SET end_event_id = 990000303 WHERE corp_num = '0000906';
INSERT INTO bc_registries.corp_state (corp_num, start_event_id, state_typ_cd) VALUES ('0000906', 990000303, 'D1A');`, ts(now.Add(-time.Minute))))
	h.mustRun(nil)
	if got := h.text(`SELECT process_success || '|' || process_msg FROM event_by_corp_filing WHERE corp_num = '0000906' ORDER BY record_id DESC LIMIT 1`); !strings.HasPrefix(got, "N|") ||
		!strings.Contains(got, "event.corp_num is NULL (event_id 990000303)") {
		t.Errorf("the bad corp's queue row: %q", got)
	}
	if n := h.count(`SELECT count(*) FROM event_by_corp_filing WHERE process_success = 'Y' AND record_id > (SELECT min(record_id) FROM event_by_corp_filing WHERE corp_num = '0000905')`); n == 0 {
		t.Error("no other corp of the run processed")
	}
	if got := h.text(`SELECT process_success FROM credential_log WHERE corp_num = '0000905' AND credential_type_cd = 'REG'`); got != "Y" {
		t.Errorf("the good corp's REG: %q, want posted", got)
	}
	if n := h.count("SELECT count(*) FROM credential_log WHERE process_date IS NULL AND coalesce(credential_json->>'expiry_date', '') = ''"); n != 0 {
		t.Errorf("%d postable credentials left", n)
	}
	if out := h.mustRun([]string{"status"}); !strings.Contains(out, "corp 0000906") || !strings.Contains(out, "event.corp_num is NULL") {
		t.Errorf("status does not show the bad corp:\n%s", out)
	}
}

// More than 100,000 corps touched by one run's events: a warning and a
// run flagged to page someone, not a stop — all of them are queued and
// processed.
func TestMoreThan100000TouchedCorpsPagesAndGoesOn(t *testing.T) {
	h := newHarness(t, agentstub.Options{})
	now := pacificNow()
	h.mustRun([]string{"migrate"})
	h.generate(1, 0, 47) // codes and one ordinary corp
	h.onSource(fmt.Sprintf(`
INSERT INTO bc_registries.corporation (corp_num, corp_typ_cd) SELECT 'T' || lpad(i::text, 6, '0'), 'FI' FROM generate_series(1, 100001) i;
INSERT INTO bc_registries.event (event_id, corp_num, event_typ_cd, event_timestmp)
SELECT 980000000 + i, 'T' || lpad(i::text, 6, '0'), 'ADMIN', '%s' FROM generate_series(1, 100001) i;`, ts(now.Add(-10*time.Minute))))
	h.query(func(c *pgx.Conn) error {
		_, err := c.Exec(context.Background(), `INSERT INTO last_event (system_type_cd, event_id, event_date, entry_date) VALUES ('BC_REG', 1, $1, now())`, now.Add(-time.Hour))
		return err
	})
	out := h.mustRun(nil, "LOG_LEVEL=warn", "CORP_BATCH_SIZE=5000")
	if !strings.Contains(out, "more corps touched since the last run than expected") {
		t.Errorf("no warning:\n%s", out)
	}
	if n := h.count(`SELECT count(*) FROM event_by_corp_filing WHERE corp_num LIKE 'T%' AND process_success = 'S'`); n != 100001 {
		t.Errorf("%d of 100,001 corps queued and processed", n)
	}
	if got := h.text(`SELECT coalesce(note, '') || '|' || coalesce(error, '') FROM rp_runs WHERE verb = 'run'`); got != "paged: 100001 corps touched, more than 100000|" {
		t.Errorf("rp_runs: %q", got)
	}
}

// verify is clean on our own output and shows a diff when a row is
// altered; it changes nothing.
func TestVerify(t *testing.T) {
	h := newHarness(t, agentstub.Options{})
	h.generate(80, 0, 48)
	h.mustRun([]string{"initial-load"})
	out := h.mustRun([]string{"verify", "--all"})
	if !strings.Contains(out, "verify: 80 corps") || !strings.Contains(out, "0 corps differ") {
		t.Fatalf("verify on our own output:\n%s", out)
	}
	corp := h.text(`SELECT corp_num FROM credential_log WHERE credential_type_cd = 'REG' AND credential_json->>'entity_name' <> '' ORDER BY record_id LIMIT 1`)
	h.query(func(c *pgx.Conn) error {
		_, err := c.Exec(context.Background(), `UPDATE credential_log SET credential_json = replace(credential_json::text, '"entity_name": "', '"entity_name": "ALTERED ')::json,
			credential_hash = md5(record_id::text) WHERE record_id = (SELECT min(record_id) FROM credential_log WHERE corp_num = $1 AND credential_type_cd = 'REG')`, corp)
		return err
	})
	before := h.text(`SELECT md5(string_agg(record_id || credential_hash || coalesce(process_success, ''), ',' ORDER BY record_id)) FROM credential_log`)
	code, out := h.run(binary, []string{"verify", "--corp", corp})
	if code != 1 || !strings.Contains(out, "corp "+corp) || !strings.Contains(out, "~ REG") || !strings.Contains(out, `entity_name "ALTERED `) ||
		!strings.Contains(out, "1 corps differ") {
		t.Errorf("verify after altering %s: exit %d\n%s", corp, code, out)
	}
	code, out = h.run(binary, []string{"verify", "--from", corp, "--to", corp})
	if code != 1 || !strings.Contains(out, "verify: 1 corps") {
		t.Errorf("verify of the range %s..%s: exit %d\n%s", corp, corp, code, out)
	}
	if after := h.text(`SELECT md5(string_agg(record_id || credential_hash || coalesce(process_success, ''), ',' ORDER BY record_id)) FROM credential_log`); after != before {
		t.Error("verify changed credential_log")
	}
}

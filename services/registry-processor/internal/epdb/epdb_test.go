package epdb_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/testkit/svc"
	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/pacific"
	"tributary.dev/services/registry-processor/migrations"
)

func setup(t *testing.T) (*epdb.DB, *pgxpool.Pool, context.Context) {
	t.Helper()
	env := svc.New(t, svc.Options{Postgres: true, Migrations: migrations.FS, Service: "registry-processor"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return epdb.New(env.Pool, 10*time.Second), env.Pool, ctx
}

func day(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func query(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func TestHighWaterAndQueue(t *testing.T) {
	db, pool, ctx := setup(t)
	hw, err := db.HighWater(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "seeded high water", hw, epdb.Mark{EventID: 0, EventDate: day(2, 1, 1, 0, 0)})

	prev := hw
	last := epdb.Mark{EventID: 9240010, EventDate: day(2024, 5, 1, 12, 0)}
	if err := db.Queue(ctx, []string{"0641655", "", "FM0001", "A0001"}, prev, last); err != nil {
		t.Fatal(err)
	}
	hw, err = db.HighWater(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "high water after queue", hw, last)

	// The mark is the largest date, then the largest id at that date —
	// not the newest row: a later row at an earlier date does not win,
	// and a smaller id at the same date does not either.
	if _, err := pool.Exec(ctx, `INSERT INTO last_event (system_type_cd, event_id, event_date, entry_date) VALUES
		('BC_REG', 9999999, '2024-04-30 00:00', now()), ('BC_REG', 9240005, '2024-05-01 12:00', now()),
		('OTHER', 1, '2030-01-01', now())`); err != nil {
		t.Fatal(err)
	}
	hw, err = db.HighWater(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "high water by date then id", hw, last)

	rows, err := db.Pending(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "pending (limit 2, blank corp skipped)", rows, []epdb.QueueRow{
		{RecordID: 1, Corp: "0641655", Prev: prev, Last: last},
		{RecordID: 2, Corp: "FM0001", Prev: prev, Last: last},
	})
	n := query(t, ctx, pool, `SELECT count(*)::text FROM event_by_corp_filing`)
	same(t, "queue rows", n, []string{"3"})
}

// The prev/last event JSON is the original's json.dumps(event,
// sort_keys=True) with dates as UTC ISO. Expected strings derived by
// hand from the Pacific offsets: PST is UTC-8, PDT UTC-7; 2004's DST
// began 4 April, 2021's on 14 March 02:00 and ended 7 November 02:00.
func TestEventJSON(t *testing.T) {
	cases := []struct {
		m    epdb.Mark
		want string
	}{
		{epdb.Mark{EventID: 10, EventDate: day(2004, 3, 26, 12, 36)}, `{"event_date": "2004-03-26T20:36:00+00:00", "event_id": 10}`},
		{epdb.Mark{EventID: 7, EventDate: day(2021, 7, 1, 12, 0)}, `{"event_date": "2021-07-01T19:00:00+00:00", "event_id": 7}`},
		// spring-forward gap and fall-back overlap read as standard time
		{epdb.Mark{EventID: 1, EventDate: day(2021, 3, 14, 2, 45)}, `{"event_date": "2021-03-14T10:45:00+00:00", "event_id": 1}`},
		{epdb.Mark{EventID: 1, EventDate: day(2021, 11, 7, 1, 30)}, `{"event_date": "2021-11-07T09:30:00+00:00", "event_id": 1}`},
		// PST8PDT before tzdata 2024b (the original's pytz of 2022) is
		// -8 before 1918; year 1 clamps to MIN_START_DATE, which prints
		// the same.
		{epdb.Mark{EventID: 0, EventDate: day(2, 1, 1, 0, 0)}, `{"event_date": "0002-01-01T08:00:00+00:00", "event_id": 0}`},
		{epdb.Mark{EventID: 0, EventDate: day(1, 1, 1, 0, 0)}, `{"event_date": "0002-01-01T08:00:00+00:00", "event_id": 0}`},
		{epdb.Mark{EventID: 5, EventDate: time.Date(2020, 1, 2, 3, 4, 5, 123456000, time.UTC)}, `{"event_date": "2020-01-02T11:04:05.123456+00:00", "event_id": 5}`},
	}
	for _, c := range cases {
		if got := epdb.EventJSON(c.m, pacific.Pre2024b); got != c.want {
			t.Errorf("EventJSON(%v) = %s, want %s", c.m, got, c.want)
		}
	}
	// pytz 2024.2's PST8PDT is local mean time before 1901-12-13: -7:53.
	if got := epdb.EventJSON(epdb.Mark{EventDate: day(1, 1, 1, 0, 0)}, pacific.Tz2024b); got != `{"event_date": "0002-01-01T07:53:00+00:00", "event_id": 0}` {
		t.Errorf("EventJSON with 2024b = %s", got)
	}
}

func cred(typ, id, hash, expiry string, held bool) epdb.Cred {
	return epdb.Cred{TypeCd: typ, ID: id, Schema: "registration.registries.ca", Version: "1.0.42",
		JSON: `{"expiry_date": "` + expiry + `", "registration_id": "` + id + `"}`, Hash: hash, Reason: "Filing:ICORP", Held: held}
}

func TestCommitPostAndStatus(t *testing.T) {
	db, pool, ctx := setup(t)
	prev := epdb.Mark{EventID: 0, EventDate: day(2, 1, 1, 0, 0)}
	last := epdb.Mark{EventID: 10, EventDate: day(2004, 3, 26, 12, 36)}
	if err := db.Queue(ctx, []string{"A1", "B2", "C3", "D4"}, prev, last); err != nil {
		t.Fatal(err)
	}
	q, err := db.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 300)
	future := epdb.Mark{EventID: 20, EventDate: day(2099, 1, 1, 0, 0)}
	outcomes := []epdb.Outcome{
		{Row: q[0], Success: "Y", Msg: "BC", CorpState: "ACT", CorpJSON: []byte(`{"corp_num": "A1"}`),
			Creds: []epdb.Cred{
				cred("REG", "BCA1", "h1", "", false),
				cred("ADDR", "A1,RG", "h2", "", true),
				cred("REL", "BCA1", "h3", "2999-01-01T08:00:00+00:00", false), // expires in the future: waits
				cred("BNC", "BCA1", "h4", "2001-01-01T08:00:00+00:00", false),
			},
			Requeue: &epdb.Requeue{Prev: future, Last: future, Release: day(2098, 6, 1, 0, 0)}},
		{Row: q[1], Success: "N", Msg: long},
		{Row: q[2], Success: "S", Msg: "XX: Skipped, not in scope"},
		{Row: q[3], Success: "Y", Msg: "SP", CorpState: "HIS", CorpJSON: []byte(`{"corp_num": "D4"}`), HistoryMsg: "Withdrawn",
			Creds: []epdb.Cred{cred("REG", "D4", "h1", "", false) /* duplicate hash of A1's REG: skipped */, cred("REG", "D4", "h5", "", false)}},
	}
	inserted, err := db.Commit(ctx, outcomes)
	if err != nil {
		t.Fatal(err)
	}
	if inserted != 5 {
		t.Errorf("inserted %d credentials, want 5 (6 less one duplicate hash)", inserted)
	}
	cutWant := strings.Repeat("é", 250) + "..."
	same(t, "queue rows", query(t, ctx, pool, `SELECT corp_num || ' ' || coalesce(process_success, '-') || ' ' ||
		coalesce(process_msg, '-') || ' ' || (process_date IS NOT NULL) || ' ' || prev_event_id || ' ' || last_event_date
		FROM event_by_corp_filing ORDER BY record_id`), []string{
		"A1 Y BC true 0 2004-03-26 12:36:00",
		"B2 N " + cutWant + " true 0 2004-03-26 12:36:00",
		"C3 S XX: Skipped, not in scope true 0 2004-03-26 12:36:00",
		"D4 Y SP true 0 2004-03-26 12:36:00",
		"A1 - - false 20 2099-01-01 00:00:00",
	})
	same(t, "history rows", query(t, ctx, pool, `SELECT corp_num || ' ' || corp_state || ' ' || process_success || ' ' ||
		coalesce(process_msg, '-') || ' ' || prev_event::text || ' ' || last_event::text || ' ' || corp_json::text
		FROM corp_history_log ORDER BY record_id`), []string{
		`A1 ACT Y - {"event_date": "0002-01-01T08:00:00+00:00", "event_id": 0} {"event_date": "2004-03-26T20:36:00+00:00", "event_id": 10} {"corp_num": "A1"}`,
		`D4 HIS Y Withdrawn {"event_date": "0002-01-01T08:00:00+00:00", "event_id": 0} {"event_date": "2004-03-26T20:36:00+00:00", "event_id": 10} {"corp_num": "D4"}`,
	})
	same(t, "credential rows", query(t, ctx, pool, `SELECT record_id || ' ' || corp_num || ' ' || corp_state || ' ' ||
		credential_type_cd || ' ' || credential_id || ' ' || credential_hash || ' ' || coalesce(process_success, '-') || ' ' ||
		(process_date IS NOT NULL) || ' ' || credential_reason FROM credential_log ORDER BY record_id`), []string{
		"1 A1 ACT REG BCA1 h1 - false Filing:ICORP",
		"2 A1 ACT ADDR A1,RG h2 A true Filing:ICORP",
		"3 A1 ACT REL BCA1 h3 - false Filing:ICORP",
		"4 A1 ACT BNC BCA1 h4 - false Filing:ICORP",
		"6 D4 HIS REG D4 h5 - false Filing:ICORP", // 5 was taken by the skipped duplicate
	})

	// A batch whose queue row was already processed is refused whole.
	if _, err := db.Commit(ctx, []epdb.Outcome{{Row: q[0], Success: "Y", Creds: []epdb.Cred{cred("REG", "X", "h9", "", false)}}}); err == nil {
		t.Error("commit of an already processed queue row succeeded")
	}
	same(t, "nothing of the refused batch", query(t, ctx, pool, `SELECT count(*)::text FROM credential_log WHERE credential_hash = 'h9'`), []string{"0"})

	now := time.Now()
	ids := func(rs []epdb.CredRow) (out []int64) {
		for _, r := range rs {
			out = append(out, r.RecordID)
		}
		return out
	}
	// A claim takes the postable rows (held ADDR and future expiry
	// excluded), in order, and nobody else gets them.
	rows, err := db.Claim(ctx, "c1", 0, 1, now, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	reason := "Filing:ICORP"
	same(t, "claimed row", rows, []epdb.CredRow{{RecordID: 1, Corp: "A1", TypeCd: "REG", Schema: "registration.registries.ca",
		Version: "1.0.42", JSON: `{"expiry_date": "", "registration_id": "BCA1"}`, Reason: &reason}})
	rows, _ = db.Claim(ctx, "c2", 0, 100, now, time.Time{})
	same(t, "second claim: the rest", ids(rows), []int64{4, 6})
	rows, _ = db.Claim(ctx, "c3", 0, 100, now, time.Time{})
	same(t, "third claim: nothing left", len(rows), 0)

	// An answer counts only under its claim.
	n, err := db.MarkPosted(ctx, []epdb.Posted{{RecordID: 1, Claim: "c1", Success: true, Result: "thread-1"},
		{RecordID: 4, Claim: "c2", Success: false, Result: long}, {RecordID: 6, Claim: "c1", Success: true, Result: "stray"}})
	if err != nil || n != 2 {
		t.Fatalf("MarkPosted wrote %d, %v; want 2 (row 6 is c2's)", n, err)
	}
	same(t, "answers", query(t, ctx, pool, `SELECT record_id || ' ' || process_success || ' ' || process_msg
		FROM credential_log WHERE record_id IN (1, 4) ORDER BY record_id`), []string{"1 Y thread-1", "4 N " + cutWant})
	// Row 6: sent and never answered; held, and not claimed again unless
	// unconfirmed rows are asked for.
	if n, err := db.MarkUnconfirmed(ctx, "c2", []int64{6}); err != nil || n != 1 {
		t.Fatalf("MarkUnconfirmed: %d, %v", n, err)
	}
	un, _ := db.Unconfirmed(ctx)
	same(t, "unconfirmed", un, []int64{6})
	rows, _ = db.Claim(ctx, "c4", 0, 100, now, time.Time{})
	same(t, "no claim of a held row", len(rows), 0)
	rows, _ = db.Claim(ctx, "c5", 0, 100, now, now.Add(-time.Hour))
	same(t, "held since after the cutoff: not yet", len(rows), 0)
	rows, _ = db.Claim(ctx, "c6", 0, 100, now, now.Add(time.Hour))
	if len(rows) != 1 || rows[0].RecordID != 6 || !rows[0].Resend {
		t.Fatalf("resend claim: %+v", rows)
	}
	// Given back unsent, it stays held; a fresh row given back is postable.
	if n, err := db.Release(ctx, "c6", []int64{6}, []bool{true}); err != nil || n != 1 {
		t.Fatalf("Release: %d, %v", n, err)
	}
	un, _ = db.Unconfirmed(ctx)
	same(t, "still unconfirmed after release", un, []int64{6})
	// A claim left by a process that died is held as unconfirmed.
	rows, _ = db.Claim(ctx, "c7", 0, 100, now, now.Add(time.Hour))
	same(t, "claimed again", ids(rows), []int64{6})
	if n, err := db.HoldOrphans(ctx); err != nil || n != 1 {
		t.Fatalf("HoldOrphans: %d, %v", n, err)
	}
	// The answer to an orphaned request still counts when it arrives.
	if n, err := db.MarkPosted(ctx, []epdb.Posted{{RecordID: 6, Claim: "c7", Success: true, Result: "thread-6"}}); err != nil || n != 1 {
		t.Fatalf("late answer: %d, %v", n, err)
	}
	un, _ = db.Unconfirmed(ctx)
	same(t, "unconfirmed after the late answer", len(un), 0)
	if _, err := pool.Exec(ctx, `UPDATE credential_log SET process_date = NULL, process_success = NULL, process_msg = NULL
		WHERE record_id = 6; DELETE FROM rp_claims WHERE record_id = 6`); err != nil {
		t.Fatal(err)
	}
	h, err := db.Held(ctx, day(2030, 1, 1, 0, 0))
	if err != nil || h.Unconfirmed != 0 || h.Future != 1 || !h.NextRelease.Equal(day(2098, 6, 1, 0, 0)) {
		t.Errorf("held: %+v, %v; want one future row released 2098-06-01", h, err)
	}

	// Status, counted by hand from the rows above:
	//   queue: 4 processed (A1 Y, B2 N, C3 S, D4 Y), 1 outstanding (A1 requeue), 1 error (B2)
	//   history: 2 processed, 0 outstanding, 0 errors
	//   credentials: processed = row 1 (Y) and row 4 (N, expiry in the past) = 2, the
	//   held ADDR 'A' not counted; outstanding = rows 3 and 6 = 2; errors = row 4.
	// An error row of another system is not counted (the original's bug).
	if _, err := pool.Exec(ctx, `INSERT INTO event_by_corp_filing (system_type_cd, corp_num, prev_event_id, prev_event_date,
		last_event_id, last_event_date, entry_date, process_date, process_success, process_msg)
		VALUES ('BCREG_LEAR', 'BC1', 0, '0001-01-01', 1, '2024-01-01', now(), now(), 'N', 'lear failure')`); err != nil {
		t.Fatal(err)
	}
	st, err := db.Status(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	type counts struct {
		Table                          string
		Processed, Outstanding, Errors int64
		Recent                         int
	}
	var got []counts
	for _, s := range st {
		got = append(got, counts{s.Table, s.Processed, s.Outstanding, s.Errors, len(s.Recent)})
	}
	same(t, "status", got, []counts{
		{"event_by_corp_filing", 4, 1, 1, 1},
		{"corp_history_log", 2, 0, 0, 0},
		{"credential_log", 2, 2, 1, 1},
	})
	if st[0].Recent[0].Corp != "B2" || st[0].Recent[0].Message != cutWant || st[0].Recent[0].Table != "event_by_corp_filing" {
		t.Errorf("recent queue error = %v, want B2's row", st[0].Recent[0])
	}
	ok, failed, err := db.PostedSince(ctx, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || failed != 1 {
		t.Errorf("posted in the last 5 minutes: %d ok %d failed, want 1 and 1", ok, failed)
	}

	// requeue --failed: B2's queue row pending again, credential 4 postable again.
	nq, nc, err := db.RequeueFailed(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if nq != 1 || nc != 1 {
		t.Errorf("requeue --failed reset %d queue rows and %d credentials, want 1 and 1", nq, nc)
	}
	rows, _ = db.Claim(ctx, "c8", 0, 100, now, time.Time{})
	same(t, "postable after requeue", ids(rows), []int64{4, 6})
	if rows[0].Resend {
		t.Error("a requeued credential still counts as sent")
	}
	p, _ := db.Pending(ctx, 10)
	var pc []string
	for _, r := range p {
		pc = append(pc, r.Corp)
	}
	same(t, "pending after requeue", pc, []string{"B2", "A1"})
	// requeue --corp, for any corp: a new queue row with its whole
	// history as the window, even for a corp never queued.
	for _, corp := range []string{"D4", "Z9"} {
		if _, err := db.RequeueCorp(ctx, corp); err != nil {
			t.Errorf("requeue --corp %s: %v", corp, err)
		}
	}
	same(t, "queued again", query(t, ctx, pool, `SELECT corp_num || ' ' || prev_event_id || ' ' || prev_event_date || ' ' || last_event_id
		FROM event_by_corp_filing WHERE process_date IS NULL AND corp_num IN ('D4', 'Z9') ORDER BY record_id`),
		[]string{"D4 0 0001-01-01 00:00:00 10", "Z9 0 0001-01-01 00:00:00 10"})
	if _, err := db.RequeueCorp(ctx, " "); err == nil {
		t.Error("requeue of a blank corp was accepted")
	}
	if err := db.Check(ctx); err != nil {
		t.Error(err)
	}
}

func TestRuns(t *testing.T) {
	db, _, ctx := setup(t)
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	a := epdb.Run{Verb: "initial-load", Started: t0, Finished: t0.Add(time.Minute), Corps: 100, Generated: 250}
	b := epdb.Run{Verb: "post", Started: t0.Add(2 * time.Minute)}
	for _, r := range []*epdb.Run{&a, &b} {
		if err := db.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b.Finished, b.Posted, b.Failed, b.Err = t0.Add(3*time.Minute), 240, 10, "controller not ready"
	if err := db.RecordRun(ctx, &b); err != nil {
		t.Fatal(err)
	}
	runs, err := db.Runs(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("runs = %v", runs)
	}
	for i := range runs {
		runs[i].Started, runs[i].Finished = runs[i].Started.UTC(), runs[i].Finished.UTC()
	}
	same(t, "runs, newest first", runs, []epdb.Run{b, a})
}

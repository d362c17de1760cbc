package testdata

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestEventsAppend(t *testing.T) {
	pool := source(t)
	s := generate(t, pool, Options{Corps: 2000, Seed: 3})
	before := count(t, pool, "SELECT count(*) FROM bc_registries.corporation")
	at := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := Events(ctx, pool, 300, 11, at)
	if err != nil {
		t.Fatal(err)
	}
	if e.Events != 300 || e.MaxEventID != s.MaxEventID+300 {
		t.Fatalf("summary %+v after max id %d, want 300 events ending at %d", e, s.MaxEventID, s.MaxEventID+300)
	}
	if got := count(t, pool, "SELECT count(*) FROM bc_registries.event WHERE event_id > $1 AND event_timestmp >= $2", s.MaxEventID, at); got != 300 {
		t.Errorf("%d new events at or after %s, want 300", got, at)
	}
	if got := count(t, pool, "SELECT count(*) FROM (SELECT event_timestmp < lag(event_timestmp) OVER (ORDER BY event_id) AS bad FROM bc_registries.event WHERE event_id > $1) x WHERE bad", s.MaxEventID); got != 0 {
		t.Errorf("%d new events out of time order", got)
	}
	// Existing corps are touched: their new events and the rows ended.
	old := count(t, pool, `SELECT count(DISTINCT e.corp_num) FROM bc_registries.event e WHERE e.event_id > $1
		AND EXISTS (SELECT 1 FROM bc_registries.event o WHERE o.corp_num = e.corp_num AND o.event_id <= $1)`, s.MaxEventID)
	if old < 100 {
		t.Errorf("only %d existing corps got events", old)
	}
	for what, sql := range map[string]string{
		"names ended":   "SELECT count(*) FROM bc_registries.corp_name WHERE end_event_id > $1",
		"states ended":  "SELECT count(*) FROM bc_registries.corp_state WHERE end_event_id > $1",
		"offices ended": "SELECT count(*) FROM bc_registries.office WHERE end_event_id > $1",
		"new firms":     "SELECT count(*) FROM bc_registries.corp_party p JOIN bc_registries.event e ON e.event_id = p.start_event_id WHERE p.party_typ_cd = 'FBO' AND e.event_id > $1",
	} {
		if got := count(t, pool, sql, s.MaxEventID); got < 5 {
			t.Errorf("%s by the new events: %d", what, got)
		}
	}
	if got := count(t, pool, "SELECT count(*) FROM bc_registries.corporation"); got != before+e.Corps || e.Corps == 0 {
		t.Errorf("%d corps after events, %d before, %d new in the summary", got, before, e.Corps)
	}
	for what, sql := range map[string]string{
		"more than one open state": "SELECT count(*) FROM (SELECT corp_num FROM bc_registries.corp_state WHERE end_event_id IS NULL GROUP BY 1 HAVING count(*) > 1) x",
		"more than one open legal name": `SELECT count(*) FROM (SELECT corp_num FROM bc_registries.corp_name
			WHERE end_event_id IS NULL AND corp_name_typ_cd IN ('CO','NB') GROUP BY 1 HAVING count(*) > 1) x`,
		"new FBO owner missing": `SELECT count(*) FROM bc_registries.corp_party p WHERE p.start_event_id > $1 AND p.party_typ_cd = 'FBO'
			AND NOT EXISTS (SELECT 1 FROM bc_registries.corporation c WHERE c.corp_num = p.bus_company_num)`,
	} {
		var args []any
		if strings.Contains(sql, "$1") {
			args = append(args, s.MaxEventID)
		}
		if got := count(t, pool, sql, args...); got != 0 {
			t.Errorf("%s: %d", what, got)
		}
	}
	// A second call continues after the first.
	e2, err := Events(ctx, pool, 50, 12, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if e2.MaxEventID != e.MaxEventID+50 {
		t.Errorf("second call ends at %d, want %d", e2.MaxEventID, e.MaxEventID+50)
	}
}

func TestProgressLogLines(t *testing.T) {
	var buf bytes.Buffer
	p := Progress(&buf, "generate")
	p(1, 10) // first call prints
	p(2, 10) // within five seconds: nothing
	p(10, 10)
	got := buf.String()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "generate: 1/10 (10%") || !strings.HasPrefix(lines[1], "generate: 10/10 (100%") {
		t.Errorf("progress output %q", got)
	}
}

// A total not known in advance (0): counts, throttled, without a percentage.
func TestProgressWithoutTotal(t *testing.T) {
	var buf bytes.Buffer
	p := Progress(&buf, "post")
	p(10, 0)
	p(20, 0) // within five seconds: nothing
	p(30, 0)
	got := buf.String()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "post: 10 (") || strings.Contains(got, "%") {
		t.Errorf("progress output %q", got)
	}
}

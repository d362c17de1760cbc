package testdata

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
)

func source(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pg.Connect(ctx, testkit.Postgres(t), pg.WithStatementTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func generate(t *testing.T, pool *pgxpool.Pool, o Options) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Generate(ctx, pool, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpeed(t *testing.T) {
	pool := source(t)
	start := time.Now()
	s := generate(t, pool, Options{Corps: 10_000, Seed: 1})
	el := time.Since(start)
	t.Logf("10,000 corps in %s (%.0f corps/s): %+v", el.Round(time.Millisecond), 10_000/el.Seconds(), s)
	if s.Corps != 10_000 {
		t.Fatalf("%d corps written, want 10000", s.Corps)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

var allTables = []string{"corporation", "event", "filing", "conv_event", "corp_name", "corp_state", "jurisdiction", "office", "address", "corp_party",
	"corp_type", "corp_op_state", "event_type", "filing_type", "corp_name_type", "jurisdiction_type", "office_type", "party_type"}

// dump is an md5 per table of its rows in text form, sorted.
func dump(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range allTables {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var h string
		err := pool.QueryRow(ctx, "SELECT coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM bc_registries."+tb+" x").Scan(&h)
		cancel()
		if err != nil {
			t.Fatalf("dump %s: %v", tb, err)
		}
		out[tb] = h
	}
	return out
}

func TestDeterministic(t *testing.T) {
	o := Options{Corps: 1500, Seed: 42}
	a, b, c := source(t), source(t), source(t)
	sa, sb := generate(t, a, o), generate(t, b, o)
	o.Seed = 43
	generate(t, c, o)
	if sa != sb {
		t.Errorf("summaries differ: %+v vs %+v", sa, sb)
	}
	da, db, dc := dump(t, a), dump(t, b), dump(t, c)
	for _, tb := range allTables {
		if da[tb] != db[tb] {
			t.Errorf("%s differs between two runs with the same seed", tb)
		}
	}
	for _, tb := range allTables[:10] {
		if da[tb] == dc[tb] {
			t.Errorf("%s is the same with another seed", tb)
		}
	}
}

func TestMixAndReferences(t *testing.T) {
	const n = 5000
	pool := source(t)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := generate(t, pool, Options{Corps: n, Seed: 7, Now: now})
	if got := count(t, pool, "SELECT count(*) FROM bc_registries.event"); got != s.Events || int64(got) != s.MaxEventID {
		t.Errorf("%d events, summary %+v", got, s)
	}

	// Types: within ±30% of the documented weight (per 10,000) where at
	// least 100 are expected, present where at least 5 are.
	total := 0
	for _, c := range corpTypes {
		total += c.weight
	}
	for _, c := range corpTypes {
		want := float64(n) * float64(c.weight) / float64(total)
		got := count(t, pool, "SELECT count(*) FROM bc_registries.corporation WHERE corp_typ_cd = $1", c.cd)
		if (want >= 100 && (float64(got) < 0.7*want || float64(got) > 1.3*want)) || (want >= 5 && got == 0) {
			t.Errorf("type %s: %d corps, want about %.0f", c.cd, got, want)
		}
	}

	// Kinds of rows the processor's rules look at: each at least a few.
	for what, sql := range map[string]string{
		"conversion-day events":          "SELECT count(*) FROM bc_registries.event WHERE event_timestmp::date = '2004-03-26'",
		"CONV events with conv_event":    "SELECT count(*) FROM bc_registries.event e JOIN bc_registries.conv_event c USING (event_id) WHERE e.event_typ_cd LIKE 'CONV%'",
		"ADMIN events":                   "SELECT count(*) FROM bc_registries.event WHERE event_typ_cd = 'ADMIN'",
		"NOAL* name filings":             "SELECT count(*) FROM bc_registries.filing WHERE filing_typ_cd IN ('NOALB','NOALC','NOALD','NOALE','NOALR','NOALU')",
		"NOALA filings":                  "SELECT count(*) FROM bc_registries.filing WHERE filing_typ_cd = 'NOALA'",
		"ANNBC filings":                  "SELECT count(*) FROM bc_registries.filing WHERE filing_typ_cd = 'ANNBC'",
		"CONVL filings":                  "SELECT count(*) FROM bc_registries.filing WHERE filing_typ_cd = 'CONVL'",
		"name changes (ended CO names)":  "SELECT count(*) FROM bc_registries.corp_name WHERE corp_name_typ_cd = 'CO' AND end_event_id IS NOT NULL",
		"numbered names":                 "SELECT count(*) FROM bc_registries.corp_name WHERE corp_name_typ_cd = 'NB'",
		"assumed names":                  "SELECT count(*) FROM bc_registries.corp_name WHERE corp_name_typ_cd = 'AS'",
		"null names":                     "SELECT count(*) FROM bc_registries.corp_name WHERE corp_nme IS NULL",
		"withdrawn (HWT)":                "SELECT count(*) FROM bc_registries.corp_state WHERE state_typ_cd = 'HWT'",
		"dissolved (HIS) states":         "SELECT count(*) FROM bc_registries.corp_state s JOIN bc_registries.corp_op_state o USING (state_typ_cd) WHERE o.op_state_typ_cd = 'HIS'",
		"restored after HIS":             "SELECT count(*) FROM bc_registries.corp_state s JOIN bc_registries.filing f ON f.event_id = s.start_event_id WHERE f.filing_typ_cd = 'RESTF'",
		"OT with description":            "SELECT count(*) FROM bc_registries.jurisdiction WHERE can_jur_typ_cd = 'OT' AND othr_juris_desc IS NOT NULL",
		"OT without description":         "SELECT count(*) FROM bc_registries.jurisdiction WHERE can_jur_typ_cd = 'OT' AND othr_juris_desc IS NULL",
		"FD and MB and ON jurisdictions": "SELECT count(DISTINCT can_jur_typ_cd) FROM bc_registries.jurisdiction WHERE can_jur_typ_cd IN ('FD','MB','ON') HAVING count(DISTINCT can_jur_typ_cd) = 3",
		"RG/HD/FO/RC offices":            "SELECT count(DISTINCT office_typ_cd) FROM bc_registries.office HAVING count(DISTINCT office_typ_cd) >= 4",
		"FBO parties":                    "SELECT count(*) FROM bc_registries.corp_party WHERE party_typ_cd = 'FBO'",
		"corps owning two or more firms": "SELECT count(*) FROM (SELECT bus_company_num FROM bc_registries.corp_party WHERE party_typ_cd = 'FBO' GROUP BY 1 HAVING count(*) > 1) x",
		"null recognition_dts":           "SELECT count(*) FROM bc_registries.corporation WHERE recognition_dts IS NULL",
		"year-1 dates":                   "SELECT (SELECT count(*) FROM bc_registries.corporation WHERE extract(year FROM recognition_dts) = 1) + (SELECT count(*) FROM bc_registries.filing WHERE extract(year FROM effective_dt) = 1)",
		"year-9999 dates":                "SELECT (SELECT count(*) FROM bc_registries.corporation WHERE extract(year FROM recognition_dts) = 9999) + (SELECT count(*) FROM bc_registries.filing WHERE extract(year FROM effective_dt) = 9999)",
		"broken delivery links":          "SELECT count(*) FROM bc_registries.office o WHERE NOT EXISTS (SELECT 1 FROM bc_registries.address a WHERE a.addr_id = o.delivery_addr_id)",
		"events stamped after now":       "SELECT count(*) FROM bc_registries.event WHERE event_timestmp > '2025-01-01'",
		"filings effective after now":    "SELECT count(*) FROM bc_registries.filing f JOIN bc_registries.event e USING (event_id) WHERE e.event_timestmp <= '2025-01-01' AND f.effective_dt > '2025-01-01' AND f.effective_dt < '9000-01-01'",
		"firm trigger_dts":               "SELECT count(*) FROM bc_registries.event e JOIN bc_registries.corporation c USING (corp_num) WHERE c.corp_typ_cd IN ('SP','GP') AND e.trigger_dts IS NOT NULL",
		"unicode names":                  "SELECT count(*) FROM bc_registries.corp_name WHERE corp_nme ~ '[^\\x01-\\x7f]'",
	} {
		if got := count(t, pool, "SELECT coalesce(("+sql+"), 0)"); got < 2 {
			t.Errorf("%s: %d rows, want a few", what, got)
		}
	}
	// bn_9 for about half of BC, XPRO and firm corps (55%).
	bn := count(t, pool, "SELECT count(*) FROM bc_registries.corporation WHERE bn_9 IS NOT NULL")
	if bn < n*30/100 || bn > n*60/100 {
		t.Errorf("%d corps with bn_9 of %d", bn, n)
	}

	// References: none of these may exist.
	for what, sql := range map[string]string{
		"name start/end events missing": `SELECT count(*) FROM bc_registries.corp_name x WHERE NOT EXISTS (SELECT 1 FROM bc_registries.event e WHERE e.event_id = x.start_event_id AND e.corp_num = x.corp_num)
			OR (x.end_event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bc_registries.event e WHERE e.event_id = x.end_event_id AND e.corp_num = x.corp_num))`,
		"state start/end events missing": `SELECT count(*) FROM bc_registries.corp_state x WHERE NOT EXISTS (SELECT 1 FROM bc_registries.event e WHERE e.event_id = x.start_event_id AND e.corp_num = x.corp_num)
			OR (x.end_event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bc_registries.event e WHERE e.event_id = x.end_event_id AND e.corp_num = x.corp_num))`,
		"office/jurisdiction/party start events missing": `SELECT (SELECT count(*) FROM bc_registries.office x WHERE NOT EXISTS (SELECT 1 FROM bc_registries.event e WHERE e.event_id = x.start_event_id))
			+ (SELECT count(*) FROM bc_registries.jurisdiction x WHERE NOT EXISTS (SELECT 1 FROM bc_registries.event e WHERE e.event_id = x.start_event_id))
			+ (SELECT count(*) FROM bc_registries.corp_party x WHERE NOT EXISTS (SELECT 1 FROM bc_registries.event e WHERE e.event_id = x.start_event_id))`,
		"more than one open state":    "SELECT count(*) FROM (SELECT corp_num FROM bc_registries.corp_state WHERE end_event_id IS NULL GROUP BY 1 HAVING count(*) > 1) x",
		"corps without an open state": "SELECT count(*) FROM bc_registries.corporation c WHERE NOT EXISTS (SELECT 1 FROM bc_registries.corp_state s WHERE s.corp_num = c.corp_num AND s.end_event_id IS NULL)",
		"FBO not firm → existing corp": `SELECT count(*) FROM bc_registries.corp_party p WHERE p.party_typ_cd = 'FBO' AND (
			NOT EXISTS (SELECT 1 FROM bc_registries.corporation c WHERE c.corp_num = p.corp_num AND c.corp_typ_cd IN ('SP','GP','MF'))
			OR NOT EXISTS (SELECT 1 FROM bc_registries.corporation c JOIN bc_registries.corp_type t USING (corp_typ_cd) WHERE c.corp_num = p.bus_company_num AND t.corp_class IN ('BC','XPRO')))`,
		"FILE events without a filing":   "SELECT count(*) FROM bc_registries.event e WHERE e.event_typ_cd = 'FILE' AND NOT EXISTS (SELECT 1 FROM bc_registries.filing f WHERE f.event_id = e.event_id)",
		"CONV events without conv_event": "SELECT count(*) FROM bc_registries.event e WHERE e.event_typ_cd LIKE 'CONV%' AND NOT EXISTS (SELECT 1 FROM bc_registries.conv_event f WHERE f.event_id = e.event_id)",
		"ids out of time order":          "SELECT count(*) FROM (SELECT event_timestmp < lag(event_timestmp) OVER (ORDER BY event_id) AS bad FROM bc_registries.event) x WHERE bad",
		"unknown codes": `SELECT (SELECT count(*) FROM bc_registries.event e WHERE NOT EXISTS (SELECT 1 FROM bc_registries.event_type t WHERE t.event_typ_cd = e.event_typ_cd))
			+ (SELECT count(*) FROM bc_registries.filing e WHERE NOT EXISTS (SELECT 1 FROM bc_registries.filing_type t WHERE t.filing_typ_cd = e.filing_typ_cd))
			+ (SELECT count(*) FROM bc_registries.corp_state e WHERE NOT EXISTS (SELECT 1 FROM bc_registries.corp_op_state t WHERE t.state_typ_cd = e.state_typ_cd))`,
	} {
		if got := count(t, pool, sql); got != 0 {
			t.Errorf("%s: %d rows", what, got)
		}
	}
}

package migrations_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/registry-processor/migrations"
)

// originalDDL is the original pipeline's create_tables() and
// create_reprocessing_tables() as its Python runs them, written here from
// the research notes (upper case, unquoted, bare CHAR), independently of
// our migration.
const originalDDL = `
CREATE TABLE IF NOT EXISTS LAST_EVENT (RECORD_ID SERIAL PRIMARY KEY, SYSTEM_TYPE_CD VARCHAR(255) NOT NULL,
  EVENT_ID INTEGER NOT NULL, EVENT_DATE TIMESTAMP NOT NULL, ENTRY_DATE TIMESTAMP NOT NULL);
CREATE INDEX IF NOT EXISTS le_stc ON LAST_EVENT (SYSTEM_TYPE_CD);
CREATE INDEX IF NOT EXISTS le_ie ON LAST_EVENT (EVENT_ID);
CREATE INDEX IF NOT EXISTS le_stc_ei ON LAST_EVENT (SYSTEM_TYPE_CD, EVENT_ID);
CREATE TABLE IF NOT EXISTS EVENT_BY_CORP_FILING (RECORD_ID SERIAL PRIMARY KEY, SYSTEM_TYPE_CD VARCHAR(255) NOT NULL,
  CORP_NUM VARCHAR(255) NOT NULL, PREV_EVENT_ID INTEGER NOT NULL, PREV_EVENT_DATE TIMESTAMP NOT NULL,
  LAST_EVENT_ID INTEGER NOT NULL, LAST_EVENT_DATE TIMESTAMP NOT NULL, ENTRY_DATE TIMESTAMP NOT NULL,
  PROCESS_DATE TIMESTAMP, PROCESS_SUCCESS CHAR, PROCESS_MSG VARCHAR(255));
CREATE INDEX IF NOT EXISTS ebcf_pd_null ON EVENT_BY_CORP_FILING (PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS ebcf_ri_pd_null_asc ON EVENT_BY_CORP_FILING (RECORD_ID ASC, PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
ALTER TABLE EVENT_BY_CORP_FILING SET (autovacuum_vacuum_scale_factor = 0.0);
ALTER TABLE EVENT_BY_CORP_FILING SET (autovacuum_vacuum_threshold = 5000);
ALTER TABLE EVENT_BY_CORP_FILING SET (autovacuum_analyze_scale_factor = 0.0);
ALTER TABLE EVENT_BY_CORP_FILING SET (autovacuum_analyze_threshold = 5000);
CREATE TABLE IF NOT EXISTS CORP_HISTORY_LOG (RECORD_ID SERIAL PRIMARY KEY, SYSTEM_TYPE_CD VARCHAR(255) NOT NULL,
  CORP_NUM VARCHAR(255) NOT NULL, CORP_STATE VARCHAR(255) NOT NULL, PREV_EVENT JSON NOT NULL, LAST_EVENT JSON NOT NULL,
  CORP_JSON JSON NOT NULL, ENTRY_DATE TIMESTAMP NOT NULL, PROCESS_DATE TIMESTAMP, PROCESS_SUCCESS CHAR,
  PROCESS_MSG VARCHAR(255));
CREATE INDEX IF NOT EXISTS chl_pd_null ON CORP_HISTORY_LOG (PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS chl_ri_pd_null_asc ON CORP_HISTORY_LOG (RECORD_ID ASC, PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
ALTER TABLE CORP_HISTORY_LOG SET (autovacuum_vacuum_scale_factor = 0.0);
ALTER TABLE CORP_HISTORY_LOG SET (autovacuum_vacuum_threshold = 5000);
ALTER TABLE CORP_HISTORY_LOG SET (autovacuum_analyze_scale_factor = 0.0);
ALTER TABLE CORP_HISTORY_LOG SET (autovacuum_analyze_threshold = 5000);
CREATE TABLE IF NOT EXISTS CREDENTIAL_TRANSFORM (RECORD_ID SERIAL PRIMARY KEY, SYSTEM_TYPE_CD VARCHAR(255) NOT NULL,
  CREDENTIAL_TYPE_CD VARCHAR(255) NOT NULL, SCHEMA_NAME VARCHAR(255) NOT NULL, SCHEMA_VERSION VARCHAR(255) NOT NULL,
  MAPPING_TRANSFORM TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ct_stc ON CREDENTIAL_TRANSFORM (SYSTEM_TYPE_CD);
CREATE TABLE IF NOT EXISTS CREDENTIAL_LOG (RECORD_ID SERIAL PRIMARY KEY, SYSTEM_TYPE_CD VARCHAR(255) NOT NULL,
  CORP_NUM VARCHAR(255) NOT NULL, CORP_STATE VARCHAR(255) NOT NULL, PREV_EVENT JSON NOT NULL, LAST_EVENT JSON NOT NULL,
  CREDENTIAL_TYPE_CD VARCHAR(255) NOT NULL, CREDENTIAL_ID VARCHAR(255) NOT NULL, SCHEMA_NAME VARCHAR(255) NOT NULL,
  SCHEMA_VERSION VARCHAR(255) NOT NULL, CREDENTIAL_JSON JSON NOT NULL, CREDENTIAL_HASH VARCHAR(64) NOT NULL,
  CREDENTIAL_REASON VARCHAR(255) NULL, ENTRY_DATE TIMESTAMP NOT NULL, END_DATE TIMESTAMP, PROCESS_DATE TIMESTAMP,
  PROCESS_SUCCESS CHAR, PROCESS_MSG VARCHAR(255));
CREATE UNIQUE INDEX IF NOT EXISTS cl_hash_index ON CREDENTIAL_LOG (CREDENTIAL_HASH);
CREATE INDEX IF NOT EXISTS cl_pd_null ON CREDENTIAL_LOG (PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS cl_pd_null_cs_act ON CREDENTIAL_LOG (PROCESS_DATE, CORP_STATE) WHERE CORP_STATE = 'ACT' and PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS cl_cs_act_pd_null_ri_asc ON CREDENTIAL_LOG (CORP_STATE, PROCESS_DATE, RECORD_ID ASC) WHERE CORP_STATE = 'ACT' and PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS cl_ri_cs_act_pd_null_asc ON CREDENTIAL_LOG (RECORD_ID ASC, CORP_STATE, PROCESS_DATE) WHERE CORP_STATE = 'ACT' and PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS cl_ri_pd_null_asc ON CREDENTIAL_LOG (RECORD_ID ASC, PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS cl_ps ON CREDENTIAL_LOG (process_success);
CREATE INDEX IF NOT EXISTS cl_ps_pd_desc ON CREDENTIAL_LOG (process_success, process_date DESC);
ALTER TABLE CREDENTIAL_LOG SET (autovacuum_vacuum_scale_factor = 0.0);
ALTER TABLE CREDENTIAL_LOG SET (autovacuum_vacuum_threshold = 5000);
ALTER TABLE CREDENTIAL_LOG SET (autovacuum_analyze_scale_factor = 0.0);
ALTER TABLE CREDENTIAL_LOG SET (autovacuum_analyze_threshold = 5000);
CREATE TABLE IF NOT EXISTS CORP_AUDIT_LOG (RECORD_ID SERIAL PRIMARY KEY, SYSTEM_TYPE_CD VARCHAR(255) NOT NULL,
  LAST_CORP_HISTORY_ID INT NOT NULL, LAST_EVENT_DATE TIMESTAMP NOT NULL, CORP_NUM VARCHAR(255) NOT NULL,
  CORP_STATE VARCHAR(255) NOT NULL, CORP_TYPE VARCHAR(255) NOT NULL, ENTRY_DATE TIMESTAMP NOT NULL,
  LAST_CREDENTIAL_ID INT, CRED_EFFECTIVE_DATE TIMESTAMP);
CREATE INDEX IF NOT EXISTS audit_corp_num_asc ON CORP_AUDIT_LOG (CORP_NUM);
ALTER TABLE CORP_AUDIT_LOG SET (autovacuum_vacuum_scale_factor = 0.0);
ALTER TABLE CORP_AUDIT_LOG SET (autovacuum_vacuum_threshold = 5000);
ALTER TABLE CORP_AUDIT_LOG SET (autovacuum_analyze_scale_factor = 0.0);
ALTER TABLE CORP_AUDIT_LOG SET (autovacuum_analyze_threshold = 5000);
CREATE TABLE IF NOT EXISTS CORP_CRED_REPROCESS_LOG (RECORD_ID SERIAL PRIMARY KEY, SYSTEM_TYPE_CD VARCHAR(255) NOT NULL,
  CORP_HISTORY_ID INT NOT NULL, CORP_NUM VARCHAR(255) NOT NULL, CREDENTIAL_TYPE_CD VARCHAR(255) NOT NULL,
  ENTRY_DATE TIMESTAMP NOT NULL, PROCESS_DATE TIMESTAMP, PROCESS_SUCCESS CHAR, PROCESS_MSG VARCHAR(255));
CREATE INDEX IF NOT EXISTS crpl_pd_null ON CORP_CRED_REPROCESS_LOG (PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
CREATE INDEX IF NOT EXISTS crpl_ri_pd_null_asc ON CORP_CRED_REPROCESS_LOG (RECORD_ID ASC, PROCESS_DATE) WHERE PROCESS_DATE IS NULL;
ALTER TABLE CORP_CRED_REPROCESS_LOG SET (autovacuum_vacuum_scale_factor = 0.0);
ALTER TABLE CORP_CRED_REPROCESS_LOG SET (autovacuum_vacuum_threshold = 5000);
ALTER TABLE CORP_CRED_REPROCESS_LOG SET (autovacuum_analyze_scale_factor = 0.0);
ALTER TABLE CORP_CRED_REPROCESS_LOG SET (autovacuum_analyze_threshold = 5000);
`

// originalData is a database the original has been running on: a
// high-water mark well past the seed, queue rows, a posted credential.
const originalData = `
INSERT INTO LAST_EVENT (SYSTEM_TYPE_CD, EVENT_ID, EVENT_DATE, ENTRY_DATE) VALUES
  ('BC_REG', 0, '0002-01-01', '2019-01-01 10:00'), ('BC_REG', 9240000, '2024-05-01 12:00', '2024-05-01 12:30');
INSERT INTO EVENT_BY_CORP_FILING (SYSTEM_TYPE_CD, CORP_NUM, PREV_EVENT_ID, PREV_EVENT_DATE, LAST_EVENT_ID,
  LAST_EVENT_DATE, ENTRY_DATE, PROCESS_DATE, PROCESS_SUCCESS, PROCESS_MSG) VALUES
  ('BC_REG', '0641655', 0, '0001-01-01', 9240000, '2024-05-01 12:00', '2024-05-01 12:30', '2024-05-01 12:31', 'Y', 'BC'),
  ('BC_REG', 'FM0001', 0, '0001-01-01', 9240000, '2024-05-01 12:00', '2024-05-01 12:30', NULL, NULL, NULL);
INSERT INTO CREDENTIAL_LOG (SYSTEM_TYPE_CD, CORP_NUM, CORP_STATE, PREV_EVENT, LAST_EVENT, CREDENTIAL_TYPE_CD,
  CREDENTIAL_ID, SCHEMA_NAME, SCHEMA_VERSION, CREDENTIAL_JSON, CREDENTIAL_HASH, CREDENTIAL_REASON, ENTRY_DATE,
  PROCESS_DATE, PROCESS_SUCCESS, PROCESS_MSG) VALUES
  ('BC_REG', '0641655', 'ACT', '{"event_date": "0001-01-01T08:00:00+00:00", "event_id": 0}',
   '{"event_date": "2024-05-01T19:00:00+00:00", "event_id": 9240000}', 'REG', '0641655',
   'registration.registries.ca', '1.0.42', '{"entity_name": "X",  "expiry_date": ""}',
   'aaaa', 'Filing:ICORP', '2024-05-01 12:31', '2024-05-01 12:40', 'Y', 'thread-1');
`

// originalTables are the tables the original owns.
var originalTables = []string{"last_event", "event_by_corp_filing", "corp_history_log", "credential_transform",
	"credential_log", "corp_audit_log", "corp_cred_reprocess_log"}

type shape struct {
	Columns   []string // table.column type nullability default
	Indexes   []string // indexdef
	RelOpts   []string // table reloptions
	Data      []string // every row of every original table, as text
	Migrated  []string // tributary_migrations names
	OurTables []string
}

func open(t *testing.T) (*pgxpool.Pool, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	pool, err := pg.Connect(ctx, testkit.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, ctx
}

func strs(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) []string {
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

func snapshot(t *testing.T, ctx context.Context, pool *pgxpool.Pool) shape {
	t.Helper()
	var s shape
	s.Columns = strs(t, ctx, pool, `
		SELECT table_name || '.' || column_name || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns c
		JOIN pg_attribute a ON a.attrelid = (c.table_schema || '.' || c.table_name)::regclass AND a.attname = c.column_name
		WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY table_name, ordinal_position`, originalTables)
	s.Indexes = strs(t, ctx, pool, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1) ORDER BY indexname`, originalTables)
	s.RelOpts = strs(t, ctx, pool, `SELECT relname || ' ' || coalesce(array_to_string(reloptions, ','), '') FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relname = ANY($1) ORDER BY relname`, originalTables)
	for _, tb := range originalTables {
		s.Data = append(s.Data, strs(t, ctx, pool, `SELECT t::text FROM `+tb+` t ORDER BY record_id`)...)
	}
	return s
}

// withoutOurs drops the nullable columns and indexes we add to the
// original's tables, leaving what the original itself has.
func withoutOurs(in []string) []string {
	var out []string
	for _, s := range in {
		if !ours(s) {
			out = append(out, s)
		}
	}
	return out
}

// ours says a column ("table.rp_…") or index ("INDEX rp_…") is ours.
func ours(s string) bool { return strings.Contains(s, ".rp_") || strings.Contains(s, "INDEX rp_") }

func migrate(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	if err := pg.Migrate(ctx, pool, "registry-processor", migrations.FS); err != nil {
		t.Fatal(err)
	}
}

// TestOriginalDatabaseAccepted: on a database the original created and
// ran on, migrating changes none of its tables, indexes, settings or rows
// (beyond our nullable columns), does not reseed the high-water mark, and
// a second run is a no-op. A fresh database ends up the same shape.
func TestOriginalDatabaseAccepted(t *testing.T) {
	orig, ctx := open(t)
	if _, err := orig.Exec(ctx, originalDDL+originalData); err != nil {
		t.Fatalf("original DDL: %v", err)
	}
	before := snapshot(t, ctx, orig)
	migrate(t, ctx, orig)
	after := snapshot(t, ctx, orig)

	if !reflect.DeepEqual(withoutOurs(after.Columns), before.Columns) {
		t.Errorf("columns changed:\nbefore %q\nafter  %q", before.Columns, after.Columns)
	}
	if !reflect.DeepEqual(withoutOurs(after.Indexes), before.Indexes) {
		t.Errorf("indexes changed:\nbefore %q\nafter  %q", before.Indexes, after.Indexes)
	}
	if !reflect.DeepEqual(after.RelOpts, before.RelOpts) {
		t.Errorf("table settings changed:\nbefore %q\nafter  %q", before.RelOpts, after.RelOpts)
	}
	// Our columns come last in the row text, NULL: strip the trailing
	// ",,,)" of credential_log (rp_sent_at, rp_batch, rp_attempts) and
	// ",)" of event_by_corp_filing (rp_release_date).
	var data []string
	for _, r := range after.Data {
		switch {
		case strings.Contains(r, "thread-1"):
			r = strings.TrimSuffix(r, ",,,)") + ")"
		case strings.Contains(r, ",0,\"0001-01-01 00:00:00\",9240000,"):
			r = strings.TrimSuffix(r, ",)") + ")"
		}
		data = append(data, r)
	}
	if !reflect.DeepEqual(data, before.Data) {
		t.Errorf("rows changed:\nbefore %q\nafter  %q", before.Data, after.Data)
	}
	var added []string
	for _, c := range after.Columns {
		if ours(c) {
			added = append(added, c)
		}
	}
	wantAdded := []string{
		"credential_log.rp_sent_at timestamp with time zone YES ",
		"credential_log.rp_batch text YES ",
		"credential_log.rp_attempts integer YES ",
		"event_by_corp_filing.rp_release_date timestamp without time zone YES ",
	}
	if !reflect.DeepEqual(added, wantAdded) {
		t.Errorf("added columns %q, want %q (new nullable columns only)", added, wantAdded)
	}

	migrate(t, ctx, orig) // twice: nothing left to do, nothing changes
	if again := snapshot(t, ctx, orig); !reflect.DeepEqual(again, after) {
		t.Errorf("second migrate changed the database")
	}

	fresh, fctx := open(t)
	migrate(t, fctx, fresh)
	f := snapshot(t, fctx, fresh)
	if !reflect.DeepEqual(f.Columns, after.Columns) {
		t.Errorf("fresh columns differ from the original's:\nfresh    %q\noriginal %q", f.Columns, after.Columns)
	}
	if !reflect.DeepEqual(f.Indexes, after.Indexes) {
		t.Errorf("fresh indexes differ from the original's:\nfresh    %q\noriginal %q", f.Indexes, after.Indexes)
	}
	if !reflect.DeepEqual(f.RelOpts, after.RelOpts) {
		t.Errorf("fresh table settings differ:\nfresh    %q\noriginal %q", f.RelOpts, after.RelOpts)
	}
}

// TestFreshSeed: an empty database gets the original's seed mark, once.
func TestFreshSeed(t *testing.T) {
	pool, ctx := open(t)
	migrate(t, ctx, pool)
	migrate(t, ctx, pool)
	got := strs(t, ctx, pool, `SELECT system_type_cd || ' ' || event_id || ' ' || event_date FROM last_event`)
	want := []string{"BC_REG 0 0002-01-01 00:00:00"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("last_event = %q, want %q", got, want)
	}
	var entryAge float64
	if err := pool.QueryRow(ctx, `SELECT abs(extract(epoch FROM entry_date - (now() AT TIME ZONE 'America/Vancouver'))) FROM last_event`).Scan(&entryAge); err != nil {
		t.Fatal(err)
	}
	if entryAge > 300 {
		t.Errorf("seed entry_date is %.0f s from Pacific now", entryAge)
	}
	ours := strs(t, ctx, pool, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'rp\_%' ORDER BY 1`)
	if !reflect.DeepEqual(ours, []string{"rp_claims", "rp_runs"}) {
		t.Errorf("our tables = %q", ours)
	}
}

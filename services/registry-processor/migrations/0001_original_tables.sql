-- The original event processor's tables, columns, types and indexes, so a
-- database it created is accepted unchanged (every statement is IF NOT
-- EXISTS) and a fresh one looks the same. Identifiers are lower case, as
-- PostgreSQL folds the original's unquoted upper-case names. Timestamps
-- are naive local wall-clock values, as the original writes them.

CREATE TABLE IF NOT EXISTS last_event (
    record_id      serial PRIMARY KEY,
    system_type_cd varchar(255) NOT NULL,
    event_id       integer NOT NULL,
    event_date     timestamp NOT NULL,
    entry_date     timestamp NOT NULL
);
CREATE INDEX IF NOT EXISTS le_stc ON last_event (system_type_cd);
CREATE INDEX IF NOT EXISTS le_ie ON last_event (event_id);
CREATE INDEX IF NOT EXISTS le_stc_ei ON last_event (system_type_cd, event_id);

-- The queue of corporations to (re)load; process_date NULL is pending,
-- process_success Y, N or S (skipped, out of scope).
CREATE TABLE IF NOT EXISTS event_by_corp_filing (
    record_id       serial PRIMARY KEY,
    system_type_cd  varchar(255) NOT NULL,
    corp_num        varchar(255) NOT NULL,
    prev_event_id   integer NOT NULL,
    prev_event_date timestamp NOT NULL,
    last_event_id   integer NOT NULL,
    last_event_date timestamp NOT NULL,
    entry_date      timestamp NOT NULL,
    process_date    timestamp,
    process_success char(1),
    process_msg     varchar(255)
);
CREATE INDEX IF NOT EXISTS ebcf_pd_null ON event_by_corp_filing (process_date)
    WHERE process_date IS NULL;
CREATE INDEX IF NOT EXISTS ebcf_ri_pd_null_asc ON event_by_corp_filing (record_id ASC, process_date)
    WHERE process_date IS NULL;

-- One JSON snapshot of a corporation per queue row processed.
CREATE TABLE IF NOT EXISTS corp_history_log (
    record_id       serial PRIMARY KEY,
    system_type_cd  varchar(255) NOT NULL,
    corp_num        varchar(255) NOT NULL,
    corp_state      varchar(255) NOT NULL,
    prev_event      json NOT NULL,
    last_event      json NOT NULL,
    corp_json       json NOT NULL,
    entry_date      timestamp NOT NULL,
    process_date    timestamp,
    process_success char(1),
    process_msg     varchar(255)
);
CREATE INDEX IF NOT EXISTS chl_pd_null ON corp_history_log (process_date)
    WHERE process_date IS NULL;
CREATE INDEX IF NOT EXISTS chl_ri_pd_null_asc ON corp_history_log (record_id ASC, process_date)
    WHERE process_date IS NULL;

-- Only the original's JSONBender demo used this; kept so the schema matches.
CREATE TABLE IF NOT EXISTS credential_transform (
    record_id          serial PRIMARY KEY,
    system_type_cd     varchar(255) NOT NULL,
    credential_type_cd varchar(255) NOT NULL,
    schema_name        varchar(255) NOT NULL,
    schema_version     varchar(255) NOT NULL,
    mapping_transform  text NOT NULL
);
CREATE INDEX IF NOT EXISTS ct_stc ON credential_transform (system_type_cd);

-- The outbound credential queue. process_success Y, N, or A (address:
-- generated, never posted).
CREATE TABLE IF NOT EXISTS credential_log (
    record_id          serial PRIMARY KEY,
    system_type_cd     varchar(255) NOT NULL,
    corp_num           varchar(255) NOT NULL,
    corp_state         varchar(255) NOT NULL,
    prev_event         json NOT NULL,
    last_event         json NOT NULL,
    credential_type_cd varchar(255) NOT NULL,
    credential_id      varchar(255) NOT NULL,
    schema_name        varchar(255) NOT NULL,
    schema_version     varchar(255) NOT NULL,
    credential_json    json NOT NULL,
    credential_hash    varchar(64) NOT NULL,
    credential_reason  varchar(255),
    entry_date         timestamp NOT NULL,
    end_date           timestamp,
    process_date       timestamp,
    process_success    char(1),
    process_msg        varchar(255)
);
-- A credential is generated once: the same attributes (same hash) again
-- is a duplicate and skipped.
CREATE UNIQUE INDEX IF NOT EXISTS cl_hash_index ON credential_log (credential_hash);
CREATE INDEX IF NOT EXISTS cl_pd_null ON credential_log (process_date)
    WHERE process_date IS NULL;
-- The next three serve the original's old ACT-first posting order; kept
-- so the schema matches.
CREATE INDEX IF NOT EXISTS cl_pd_null_cs_act ON credential_log (process_date, corp_state)
    WHERE corp_state = 'ACT' AND process_date IS NULL;
CREATE INDEX IF NOT EXISTS cl_cs_act_pd_null_ri_asc ON credential_log (corp_state, process_date, record_id ASC)
    WHERE corp_state = 'ACT' AND process_date IS NULL;
CREATE INDEX IF NOT EXISTS cl_ri_cs_act_pd_null_asc ON credential_log (record_id ASC, corp_state, process_date)
    WHERE corp_state = 'ACT' AND process_date IS NULL;
CREATE INDEX IF NOT EXISTS cl_ri_pd_null_asc ON credential_log (record_id ASC, process_date)
    WHERE process_date IS NULL;
CREATE INDEX IF NOT EXISTS cl_ps ON credential_log (process_success);
CREATE INDEX IF NOT EXISTS cl_ps_pd_desc ON credential_log (process_success, process_date DESC);

-- Filled by the original's audit scripts.
CREATE TABLE IF NOT EXISTS corp_audit_log (
    record_id            serial PRIMARY KEY,
    system_type_cd       varchar(255) NOT NULL,
    last_corp_history_id integer NOT NULL,
    last_event_date      timestamp NOT NULL,
    corp_num             varchar(255) NOT NULL,
    corp_state           varchar(255) NOT NULL,
    corp_type            varchar(255) NOT NULL,
    entry_date           timestamp NOT NULL,
    last_credential_id   integer,
    cred_effective_date  timestamp
);
CREATE INDEX IF NOT EXISTS audit_corp_num_asc ON corp_audit_log (corp_num);

-- Back-filling one credential type for corps already processed.
CREATE TABLE IF NOT EXISTS corp_cred_reprocess_log (
    record_id          serial PRIMARY KEY,
    system_type_cd     varchar(255) NOT NULL,
    corp_history_id    integer NOT NULL,
    corp_num           varchar(255) NOT NULL,
    credential_type_cd varchar(255) NOT NULL,
    entry_date         timestamp NOT NULL,
    process_date       timestamp,
    process_success    char(1),
    process_msg        varchar(255)
);
CREATE INDEX IF NOT EXISTS crpl_pd_null ON corp_cred_reprocess_log (process_date)
    WHERE process_date IS NULL;
CREATE INDEX IF NOT EXISTS crpl_ri_pd_null_asc ON corp_cred_reprocess_log (record_id ASC, process_date)
    WHERE process_date IS NULL;

-- The queue tables see bursts of inserts and updates; the original tunes
-- autovacuum to run every 5000 changed rows whatever the table's size.
-- Setting the same values again on the original's database changes
-- nothing.
ALTER TABLE event_by_corp_filing SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
    autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000);
ALTER TABLE corp_history_log SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
    autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000);
ALTER TABLE credential_log SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
    autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000);
ALTER TABLE corp_audit_log SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
    autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000);
ALTER TABLE corp_cred_reprocess_log SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000,
    autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000);

-- The high-water mark starts before any event (the original's insert.py
-- seed, MIN_START_DATE = year 2), but only on a database that has none:
-- a database taken over mid-stream keeps its own.
INSERT INTO last_event (system_type_cd, event_id, event_date, entry_date)
SELECT 'BC_REG', 0, '0002-01-01 00:00:00', now() AT TIME ZONE 'America/Vancouver'
WHERE NOT EXISTS (SELECT 1 FROM last_event WHERE system_type_cd = 'BC_REG');

-- Our own bookkeeping: new tables and new nullable columns only, so the
-- original pipeline can still run on this database.

-- At-least-once posting: a row is stamped before its batch is sent, so
-- after a crash the rows sent but never answered (rp_sent_at set,
-- process_date NULL) are known, retried and counted, while a row with an
-- answer (process_date set) is never sent again. Adding nullable columns
-- without a default rewrites nothing, however large the table.
ALTER TABLE credential_log ADD COLUMN IF NOT EXISTS rp_sent_at timestamptz;
ALTER TABLE credential_log ADD COLUMN IF NOT EXISTS rp_batch text;
ALTER TABLE credential_log ADD COLUMN IF NOT EXISTS rp_attempts integer;
CREATE INDEX IF NOT EXISTS rp_cl_sent_unanswered ON credential_log (record_id)
    WHERE process_date IS NULL AND rp_sent_at IS NOT NULL;

-- One row per run of a stage or verb, for the status page's "last runs"
-- (what the original's Mara console showed).
CREATE TABLE IF NOT EXISTS rp_runs (
    id          bigserial PRIMARY KEY,
    verb        text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    corps       bigint      NOT NULL DEFAULT 0,
    generated   bigint      NOT NULL DEFAULT 0,
    posted      bigint      NOT NULL DEFAULT 0,
    failed      bigint      NOT NULL DEFAULT 0,
    error       text
);
CREATE INDEX IF NOT EXISTS rp_runs_started ON rp_runs (started_at DESC);

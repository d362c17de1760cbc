-- A DMS table reload writes the same LOAD… keys again with a new
-- snapshot. Each reload starts a new generation of the table: the same
-- key may be applied once per generation, deliveries of earlier
-- generations stay as history (the outbox still references them), and
-- markers read only the current one.
ALTER TABLE loader_deliveries ADD COLUMN IF NOT EXISTS generation integer NOT NULL DEFAULT 1;
-- The object's ETag as listed when it was applied: with size, how a file
-- rewritten under the same key (a reload) is told from the one applied.
ALTER TABLE loader_deliveries ADD COLUMN IF NOT EXISTS etag text;
-- LOAD counters are hexadecimal: eight digits reach past int4.
ALTER TABLE loader_deliveries ALTER COLUMN file_seq TYPE bigint;

ALTER TABLE loader_deliveries DROP CONSTRAINT IF EXISTS loader_deliveries_key_key;
CREATE UNIQUE INDEX IF NOT EXISTS loader_deliveries_key_generation_idx
    ON loader_deliveries (bucket, key, generation);

-- Per table: its current generation and, after a reload, the time before
-- which change files belong to the old snapshot (they are neither applied
-- nor reported as late).
CREATE TABLE IF NOT EXISTS loader_tables (
    bucket        text        NOT NULL,
    schema_name   text        NOT NULL,
    table_name    text        NOT NULL,
    generation    integer     NOT NULL DEFAULT 1,
    cdc_from      timestamptz,
    reloaded_at   timestamptz,
    reload_note   text,
    PRIMARY KEY (bucket, schema_name, table_name)
);

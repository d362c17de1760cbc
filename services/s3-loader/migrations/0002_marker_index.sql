-- Markers are read per table with index range scans (the last full-load
-- key, the newest CDC file), so a pass costs the same however many
-- deliveries the history holds. key is in the index for the tie-break
-- between CDC files stamped alike; the new index also serves the
-- late-window lookup the old one did.
CREATE INDEX IF NOT EXISTS loader_deliveries_marker_idx
    ON loader_deliveries (schema_name, table_name, kind, file_time, key);

DROP INDEX IF EXISTS loader_deliveries_table_idx;

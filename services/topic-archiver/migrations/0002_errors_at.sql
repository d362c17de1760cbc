-- archive_errors is pruned by age (ERROR_RETENTION); the index keeps the
-- pruning a range scan however many rows a long outage left.
CREATE INDEX IF NOT EXISTS archive_errors_at_idx ON archive_errors (at);

-- Sent notifications are pruned once older than OUTBOX_RETENTION: this
-- finds them by age without scanning the rows still waiting, and keeps
-- the prune as cheap as the number of rows it removes.
CREATE INDEX IF NOT EXISTS loader_outbox_sent_idx ON loader_outbox (sent_at) WHERE sent_at IS NOT NULL;

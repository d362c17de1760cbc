-- Never issue a credential twice. A posting run claims the rows it is
-- about to send (rp_batch set, only rows nobody holds); an answer is
-- written back only under that claim. A request sent and never answered
-- leaves its rows unconfirmed (rp_unconfirmed_at): the controller may have
-- issued them, so they are sent again only when the operator says so
-- (`post --unconfirmed`) or after UNCONFIRMED_RESEND_AFTER. A claim still
-- held when a run starts belongs to a process that died mid-request: its
-- rows become unconfirmed too.
ALTER TABLE credential_log ADD COLUMN IF NOT EXISTS rp_unconfirmed_at timestamptz;
DROP INDEX IF EXISTS rp_cl_sent_unanswered;
CREATE INDEX IF NOT EXISTS rp_cl_claimed ON credential_log (record_id)
    WHERE process_date IS NULL AND rp_batch IS NOT NULL;
CREATE INDEX IF NOT EXISTS rp_cl_unconfirmed ON credential_log (record_id)
    WHERE process_date IS NULL AND rp_unconfirmed_at IS NOT NULL;

-- A corp queued again for future-dated events is processed from the first
-- of them on (naive Pacific, as the queue's dates): a change effective at
-- T1 is issued at T1 even when another is due later. NULL: due now (every
-- row the original queued, and every row queued by events).
ALTER TABLE event_by_corp_filing ADD COLUMN IF NOT EXISTS rp_release_date timestamp;
CREATE INDEX IF NOT EXISTS rp_ebcf_release ON event_by_corp_filing (rp_release_date)
    WHERE process_date IS NULL AND rp_release_date IS NOT NULL;

-- rp_runs also keeps what a run left unconfirmed and why it was flagged.
ALTER TABLE rp_runs ADD COLUMN IF NOT EXISTS unconfirmed bigint NOT NULL DEFAULT 0;
ALTER TABLE rp_runs ADD COLUMN IF NOT EXISTS note text;

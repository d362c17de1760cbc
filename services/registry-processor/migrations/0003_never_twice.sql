-- Never issue a credential twice. A posting run claims the rows it is
-- about to send: one row each in rp_claims (its primary key makes a claim
-- exclusive), kept narrow so claiming costs little beside credential_log's
-- many indexes. An answer is written back only under its claim, and the
-- claim goes. A request sent and never answered leaves its claims held as
-- unconfirmed (unconfirmed_at): the controller may have issued them, so
-- they are sent again only when the operator says so (`post
-- --unconfirmed`) or after UNCONFIRMED_RESEND_AFTER. A claim still open
-- when a run starts belongs to a process that died mid-request: it is held
-- too. credential_log itself gets no new column here.
CREATE TABLE IF NOT EXISTS rp_claims (
    record_id      integer     PRIMARY KEY, -- credential_log.record_id
    claim          text        NOT NULL,
    sent_at        timestamptz NOT NULL DEFAULT now(),
    unconfirmed_at timestamptz,
    attempts       integer     NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS rp_claims_held ON rp_claims (record_id) WHERE unconfirmed_at IS NOT NULL;
-- What the previous version left sent and unanswered is held.
INSERT INTO rp_claims (record_id, claim, sent_at, unconfirmed_at, attempts)
SELECT record_id, coalesce(rp_batch, 'before-claims'), rp_sent_at, now(), coalesce(rp_attempts, 1)
  FROM credential_log WHERE process_date IS NULL AND rp_sent_at IS NOT NULL
ON CONFLICT (record_id) DO NOTHING;
DROP INDEX IF EXISTS rp_cl_sent_unanswered;

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

-- One row per delivery file: applied, or skipped by ON_BAD_FILE=skip with
-- its reason. The row commits in the same transaction as the delivery's
-- data, so "recorded" and "applied" can never disagree.
CREATE TABLE IF NOT EXISTS loader_deliveries (
    id           bigserial   PRIMARY KEY,
    key          text        NOT NULL UNIQUE,
    bucket       text        NOT NULL,
    schema_name  text        NOT NULL,
    table_name   text        NOT NULL,
    target_table text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('load', 'cdc')),
    file_seq     integer,
    file_time    timestamptz,
    size         bigint      NOT NULL DEFAULT 0,
    status       text        NOT NULL CHECK (status IN ('loaded', 'skipped')),
    reason       text,
    rows         bigint      NOT NULL DEFAULT 0,
    created      bigint      NOT NULL DEFAULT 0,
    amended      bigint      NOT NULL DEFAULT 0,
    removed      bigint      NOT NULL DEFAULT 0,
    missing      bigint      NOT NULL DEFAULT 0,
    max_event_id text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

CREATE INDEX IF NOT EXISTS loader_deliveries_table_idx
    ON loader_deliveries (schema_name, table_name, kind, file_time);

-- Notifications wait here until NATS has them: written in the delivery's
-- transaction, sent (with Nats-Msg-Id = msg_id) and marked by the
-- publisher. A crash between send and mark resends the same msg_id.
CREATE TABLE IF NOT EXISTS loader_outbox (
    delivery_id bigint      PRIMARY KEY REFERENCES loader_deliveries (id),
    subject     text        NOT NULL,
    msg_id      text        NOT NULL,
    payload     text        NOT NULL, -- exact bytes: jsonb would reorder keys
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);

CREATE INDEX IF NOT EXISTS loader_outbox_unsent_idx ON loader_outbox (delivery_id) WHERE sent_at IS NULL;

-- One row per archived message. uuid and (topic, partition, offset) are
-- both unique: a redelivery, a cursor reset or a producer's resend of the
-- same _id is recognised and not stored twice.
CREATE TABLE IF NOT EXISTS archive_messages (
    uuid        uuid        PRIMARY KEY,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    timestamp   timestamptz NOT NULL,
    bucket      text        NOT NULL,
    key         text        NOT NULL,
    byte_offset bigint      NOT NULL DEFAULT 0,
    byte_length bigint      NOT NULL,
    size        integer     NOT NULL, -- message value bytes
    sha256      bytea       NOT NULL, -- of the stored BSON document
    headers     jsonb       NOT NULL DEFAULT '{}', -- UTF-8 headers, for `uuids --header`
    stored_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);

CREATE INDEX IF NOT EXISTS archive_messages_topic_time_idx ON archive_messages (topic, timestamp);
CREATE INDEX IF NOT EXISTS archive_messages_headers_idx ON archive_messages USING gin (headers jsonb_path_ops);

-- Recent errors, for `topic-archiver logs`.
CREATE TABLE IF NOT EXISTS archive_errors (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text        NOT NULL,
    topic     text,
    partition integer,
    "offset"  bigint,
    message   text        NOT NULL
);

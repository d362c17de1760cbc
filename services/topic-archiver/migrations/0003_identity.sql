-- A message's identity is where it was in Kafka — the topic's id
-- (KIP-516), its partition and offset — not its _id header: producers
-- reuse ids, send all-zero ones, and a topic deleted and created again
-- under its name starts its offsets at 0. See the README, "Duplicates".
--
-- topic_id: the topic's id when the message was archived; all zeros for
-- rows from before ids were kept, and from brokers that have none.
ALTER TABLE archive_messages ADD COLUMN IF NOT EXISTS topic_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
-- payload_sha256: SHA-256 of the message value (32 zero bytes for a null
-- value, a tombstone): a producer's _id counts as the same message only
-- with the same payload. NULL for rows from before it was kept.
ALTER TABLE archive_messages ADD COLUMN IF NOT EXISTS payload_sha256 bytea;

ALTER TABLE archive_messages DROP CONSTRAINT IF EXISTS archive_messages_pkey;
ALTER TABLE archive_messages DROP CONSTRAINT IF EXISTS archive_messages_topic_partition_offset_key;
-- Place first, so the per-batch look-up of a partition's offset range is
-- a range scan of this index whatever the topic's id.
ALTER TABLE archive_messages ADD CONSTRAINT archive_messages_pkey PRIMARY KEY (topic, partition, "offset", topic_id);
-- inspect, and the look-up of a producer's _id with its payload: one
-- probe per message however many messages reuse the id (the all-zero one
-- can be on millions). clean-duplicates asks by key.
CREATE INDEX IF NOT EXISTS archive_messages_uuid_idx ON archive_messages (uuid, payload_sha256);
CREATE INDEX IF NOT EXISTS archive_messages_key_idx ON archive_messages (key);

-- The ids the archiver has archived each topic under. topic_id is the
-- broker's id (KIP-516) — or, where the broker has none, or a partition's
-- content changed under the same id (a log truncated by an unclean leader
-- election), one the archiver derived, so that what came before and what
-- came after are told apart. broker_id is the broker's id it went with.
-- The newest row per topic is the id the archiver uses; a topic whose
-- broker id differs from it was deleted and created again.
CREATE TABLE IF NOT EXISTS archive_topics (
    topic      text        NOT NULL,
    topic_id   uuid        NOT NULL,
    broker_id  uuid        NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (topic, topic_id)
);

-- An object key clean-duplicates is deleting: the archiver does not index
-- rows pointing at a claimed key (it writes the object again once the
-- claim is gone). Claims and index inserts are serialised by an advisory
-- lock, see internal/index.
CREATE TABLE IF NOT EXISTS archive_key_claims (
    key        text        PRIMARY KEY,
    claimed_at timestamptz NOT NULL DEFAULT now()
);

-- archive.stored announcements, written in the transaction that indexes
-- what they announce and deleted once JetStream has acknowledged them.
-- events is a JSON array of {subject, msg_id, payload}.
CREATE TABLE IF NOT EXISTS archive_outbox (
    id         bigserial   PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    events     json        NOT NULL
);

-- One row per record file the parser finished with, parsed or
-- quarantined. Several replicas share one JetStream consumer, so this
-- table (not a process's memory) is where a redelivered file is seen to be
-- done and where the chain check finds a file's neighbours.
--
-- consensus_start/consensus_end are nanoseconds since the epoch (bigint):
-- timestamptz keeps only microseconds and record files differ in the ns.
CREATE TABLE IF NOT EXISTS parser_files (
    network         text        NOT NULL,
    name            text        NOT NULL,
    consensus_start bigint      NOT NULL,
    consensus_end   bigint      NOT NULL,
    version         integer     NOT NULL,
    node            text        NOT NULL DEFAULT '',
    count           integer     NOT NULL DEFAULT 0,
    file_hash       bytea,
    prev_hash       bytea,
    chain_hash      bytea, -- null for quarantined files: nothing chains on them
    block_number    bigint,    -- v6 only
    outcome         text        NOT NULL CHECK (outcome IN ('parsed', 'quarantined')),
    reason          text        NOT NULL DEFAULT '',
    index_name      text        NOT NULL DEFAULT '',
    ndjson          text        NOT NULL DEFAULT '',
    parsed_at       timestamptz NOT NULL DEFAULT now(),
    announced_at    timestamptz, -- null until the parsed event went out
    PRIMARY KEY (network, name)
);

-- Neighbours and Last walk parsed files by consensus start.
CREATE INDEX IF NOT EXISTS parser_files_start_idx
    ON parser_files (network, consensus_start, name) WHERE outcome = 'parsed';

-- Every chain break seen: file does not start from prev_file's chain hash.
-- An operator's resume accepts the open ones; a file that later fills the
-- gap between the two resolves a break that was only a missing file.
CREATE TABLE IF NOT EXISTS parser_chain_breaks (
    id          bigserial   PRIMARY KEY,
    network     text        NOT NULL,
    file        text        NOT NULL,
    prev_file   text        NOT NULL,
    expected    bytea,       -- prev_file's chain hash
    found       bytea,       -- file's prev hash
    detected_at timestamptz NOT NULL DEFAULT now(),
    policy      text        NOT NULL CHECK (policy IN ('stop', 'continue')),
    accepted_at timestamptz,
    accepted_by text,
    resolved_at timestamptz,
    resolved_by text,        -- the file that filled the gap
    UNIQUE (network, file, prev_file)
);

CREATE INDEX IF NOT EXISTS parser_chain_breaks_file_idx ON parser_chain_breaks (network, file);

-- A stream that stopped on a break (policy stop) until an operator
-- resumes it; one row per network.
CREATE TABLE IF NOT EXISTS parser_halts (
    network text        PRIMARY KEY,
    file    text        NOT NULL,
    reason  text        NOT NULL,
    since   timestamptz NOT NULL DEFAULT now()
);

-- Files waiting for the file before them: a replica saw the file, but its
-- predecessor was not recorded yet (another replica may be parsing it, or
-- it is late). CHAIN_WAIT counts from first_seen, across replicas and
-- restarts, while the file waits behind the same recorded file (behind):
-- when a file before it is recorded meanwhile, the stream is moving
-- towards it and the wait starts again. A file not looked at for a long
-- while (the parsers were stopped) starts its wait again too, and a halt
-- lifted clears them all, so a long stop never makes the files that
-- follow it breaks at once. A row goes when its file is recorded.
CREATE TABLE IF NOT EXISTS parser_waits (
    network    text        NOT NULL,
    name       text        NOT NULL,
    behind     text        NOT NULL DEFAULT '',
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (network, name)
);

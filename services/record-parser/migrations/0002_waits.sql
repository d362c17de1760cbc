-- Files waiting for the file before them: a replica saw the file, but its
-- predecessor was not recorded yet (another replica may be parsing it).
-- CHAIN_WAIT counts from first_seen, across replicas and restarts; a file
-- not looked at for a long while (the stream was halted, the parser was
-- down) starts its wait again, and a halt lifted clears them all, so a
-- long stop never makes the files that follow it breaks at once. A row
-- goes when its file is recorded.
CREATE TABLE IF NOT EXISTS parser_waits (
    network    text        NOT NULL,
    name       text        NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (network, name)
);

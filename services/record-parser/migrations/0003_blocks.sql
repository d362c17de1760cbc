-- Blocks (HIP-1056) in the same stream as the record files: they continue
-- the record files' numbering, and a block chains on the root hash of the
-- block before it (a wrapped record block's root hash for the first block
-- after the record files), not on a record-stream hash.
--
-- kind: record (a record file), block, or wrapped (a wrapped record
-- block: a record file with its signatures, read as the record file).
-- root_hash: a block's or wrapped record block's root hash, what the next
-- block's footer names; null for a record file.
ALTER TABLE parser_files ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'record'
    CHECK (kind IN ('record', 'block', 'wrapped'));
ALTER TABLE parser_files ADD COLUMN IF NOT EXISTS root_hash bytea;

CREATE INDEX IF NOT EXISTS parser_files_number_idx
    ON parser_files (network, block_number) WHERE outcome = 'parsed' AND block_number IS NOT NULL;

-- Why a pair is a break: a previous hash that is not the one before it
-- ends with, or a block number that does not follow.
ALTER TABLE parser_chain_breaks ADD COLUMN IF NOT EXISTS reason text NOT NULL DEFAULT '';

-- Where the halt is, so that files can be held back by position: blocks'
-- names carry no time.
ALTER TABLE parser_halts ADD COLUMN IF NOT EXISTS consensus_start bigint;
ALTER TABLE parser_halts ADD COLUMN IF NOT EXISTS block_number bigint;

-- Record files before the first numbered one (v2 and v5 name no block)
-- take the numbers counted back from it, as the mirror node numbers them
-- (BlockNumberMigration): one a file, in consensus order. From now on a
-- file without a number takes the one after its predecessor's when it
-- continues it.
WITH anchor AS (
    SELECT DISTINCT ON (network) network, consensus_start AS start, name, block_number
    FROM parser_files
    WHERE outcome = 'parsed' AND block_number IS NOT NULL
    ORDER BY network, consensus_start, name
), earlier AS (
    SELECT f.network, f.name,
        a.block_number - row_number() OVER (PARTITION BY f.network ORDER BY f.consensus_start DESC, f.name DESC) AS n
    FROM parser_files f JOIN anchor a USING (network)
    WHERE f.outcome = 'parsed' AND f.block_number IS NULL AND (f.consensus_start, f.name) < (a.start, a.name)
)
UPDATE parser_files p SET block_number = e.n
FROM earlier e
WHERE p.network = e.network AND p.name = e.name AND e.n >= 0;

// Package blockstream reads and verifies Hedera block streams (HIP-1056):
// the block files that replace record files from the record-stream cutover
// on, and the wrapped record blocks that carry history's record files with
// their node signatures.
//
// # Reading
//
// Reader reads .blk, .blk.gz and .blk.zstd files into a Block: its items in
// order, each kept as the exact bytes read (Item.Raw, what the root hash is
// taken over; nothing is ever re-encoded to be hashed), with only the header
// and the footer decoded. Payloads are decoded by whoever needs them, with
// the hederapb type of the item's kind. The mirror node's per-block limits
// (800 000 items, 512 MiB) are enforced before the memory for them is taken:
// a counting pass over the wire format refuses too many items, and the
// decompressors refuse too many bytes.
//
// Reading checks the block's shape: the header first; events before their
// transactions; one footer; one or more proofs after it and nothing else; a
// wrapped record block with exactly one record file and no events or
// transactions; the number in a block object name equal to the header's.
// It refuses what it cannot verify: filtered or redacted items, an unknown
// item numbered below 20, a hash algorithm other than SHA-384, and the
// pre-release layouts before CN 0.71.
//
// # Root hash
//
// Block.RootHash computes the root hash by the algorithm the block's HAPI
// version selects (AlgorithmFor): the CN 0.71–0.73 eight-leaf tree with its
// single-child wrap below 0.74, the sixteen-leaf tree from 0.74 on and for
// every wrapped record block. The fixtures confirm each side (each chain
// holds under its own algorithm only); no block of 0.74–0.77, and none of
// the v0.80 release the networks cut over with, was available, so the exact
// release of the switch is the one assumption here — a block under the
// wrong algorithm fails its chain, loudly.
//
// # What is verified, and what is not
//
// Chain verifies that blocks follow one another: consecutive numbers, and
// each footer's previous root hash equal to the root hash computed for the
// previous block. A chain started from an anchor (the root of the wrapped
// record block of the last RSA-verified record file, at the cutover) extends
// that anchor's trust to every block that follows it.
//
// ProofVerifier verifies a block's first proof (the mirror node reads only
// the first) and reports a Level:
//
//   - rsa_signed: a wrapped record block. Its record file is rebuilt (v2, v5
//     or v6), read back with its running hashes recomputed, its sidecars
//     checked against their hashes, and the SHA384withRSA signatures over its
//     file hash weighed against the address book in force at its first
//     consensus time; the nodes whose signatures verify carry the threshold
//     (a third of the stake by default). This is the record stream's
//     guarantee in full. Not verified: amendments (outside the file hash),
//     sidecars the block does not carry (listed in MissingSidecars), and the
//     block's own footer hashes, which wrapped blocks fill with placeholders.
//   - tss_structure: a TSS signature over the root hash (or, for a state
//     proof, over the root its Merkle path leads to) whose size is a hinTS
//     verification key, a BLS aggregate signature and a Schnorr or WRAPS
//     chain-of-trust proof, for a network whose ledger id is known (block 0's
//     publication, or configuration). The hinTS/WRAPS cryptography is NOT
//     checked: no Go implementation or byte-level specification of it
//     exists. A TSSVerifier that checks it can be plugged in and report
//     tss_verified; none exists in this package.
//   - tss_placeholder: the 48-byte SHA-384(root) a network with TSS off
//     writes in place of a signature; accepted only when allowed (local and
//     test networks).
//   - root_hash: the root hash was computed and the proof's shape checked,
//     but nothing ties the block to the network (a TSS signature with no
//     ledger id known).
//
// A state proof's path is verified (from this block's root to the signed
// root, the mirror node's walk), not the later block it names: that block
// is verified on its own when it arrives.
//
// Whatever the level, the root hash and the chain are what make a block the
// network's: a block chained from an anchor is as trustworthy as the
// anchor, TSS or not. A caller counts blocks by Verdict.Proof and
// Verdict.Level and says so; nothing in this package claims more.
//
// # Errors
//
// Every error about a block is an *Error naming the file, the block number
// (or -1), the item and byte offset where they apply, and wraps one reason: ErrTruncated,
// ErrMalformed, ErrTooLarge, ErrUnsupported, ErrMisnamed, ErrHashMismatch,
// ErrChainBroken or ErrProof — plus the recordstream error that found a
// fault in a wrapped record file. Errors about names and ledgers wrap
// ErrMisnamed or ErrMalformed. No input makes a reader panic.
package blockstream

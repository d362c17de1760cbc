package blockstream

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"time"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// Level is how far a block's proof was verified. It is a label, not a
// ranking: each level says exactly what was checked (see doc.go).
type Level uint8

const (
	// LevelRootHash: the root hash was computed over the items as read
	// and the proof's shape checked, but nothing tied the block to the
	// network (a TSS proof with no ledger id configured or published).
	LevelRootHash Level = iota
	// LevelTSSPlaceholder: the proof is the 48-byte SHA-384 of the root
	// hash that a network with TSS off writes. Accepted only when the
	// verifier allows it (local and test networks).
	LevelTSSPlaceholder
	// LevelTSSStructure: a TSS signature over the root of the right shape
	// and size (hinTS key 1096 bytes, BLS aggregate 1632, and a 192-byte
	// Schnorr or 704-byte WRAPS chain-of-trust proof) for a known ledger
	// id. The cryptography is NOT checked: no Go implementation or
	// byte-level specification of hinTS/WRAPS exists.
	LevelTSSStructure
	// LevelTSSVerified: a TSSVerifier that checks the cryptography
	// accepted the signature. This package has none; a plugged-in one may
	// report it.
	LevelTSSVerified
	// LevelRSASigned: a wrapped record block whose rebuilt record file's
	// hash is RSA-signed by nodes carrying the consensus threshold of the
	// address book in force: the record-stream guarantee, in full.
	LevelRSASigned
	levels
)

var levelNames = [...]string{
	LevelRootHash:       "root_hash",
	LevelTSSPlaceholder: "tss_placeholder",
	LevelTSSStructure:   "tss_structure",
	LevelTSSVerified:    "tss_verified",
	LevelRSASigned:      "rsa_signed",
}

// String is the level's metric label value.
func (l Level) String() string {
	if l < levels {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", l)
}

// Levels lists every level, to register metric label values up front.
func Levels() []Level {
	out := make([]Level, levels)
	for i := range out {
		out[i] = Level(i)
	}
	return out
}

// ProofKind is the kind of a block's (first) proof.
type ProofKind uint8

const (
	ProofUnknown ProofKind = iota
	// ProofTSS: a TSS signature over this block's root hash.
	ProofTSS
	// ProofStateProof: a Merkle path from this block's root to a later
	// block's signed root.
	ProofStateProof
	// ProofRecordFile: node RSA signatures over a wrapped record file.
	ProofRecordFile
)

func (k ProofKind) String() string {
	switch k {
	case ProofTSS:
		return "tss"
	case ProofStateProof:
		return "state_proof"
	case ProofRecordFile:
		return "record_file"
	}
	return "unknown"
}

// Verdict is what verifying one block found.
type Verdict struct {
	Number    uint64
	Root      Hash
	Algorithm Algorithm
	Proof     ProofKind
	Level     Level
	// Detail says in one line what was checked and what was not.
	Detail string
	// SignedRoot (state proofs) is the root hash the path leads to: the
	// signed block's.
	SignedRoot Hash
	// Wrapped (wrapped record blocks) is the rebuilt record file, and
	// Signers and Weighing what its node signatures weigh.
	Wrapped  *WrappedRecordFile
	Signers  []int64
	Weighing recordstream.Weighing
}

// Verifier verifies a block whose root hash has been computed. Callers
// count blocks by Verdict.Level and Verdict.Proof; the error, when there
// is one, names the block and wraps ErrProof (and the underlying cause).
type Verifier interface {
	Verify(b *Block, root Hash, a Algorithm) (Verdict, error)
}

// TSSVerifier checks a TSS signature over a message (a block root hash)
// for the network whose trust anchor is ledger, and says how far it could.
// A verifier that checks the hinTS/WRAPS cryptography returns
// LevelTSSVerified; StructureTSS checks shapes and sizes only.
type TSSVerifier interface {
	VerifyTSS(ledger *Ledger, message Hash, signature []byte) (Level, error)
}

// Sizes of a TSS signature's parts (the block node's
// tss-block-proof-verification design): hinTS verification key, BLS
// aggregate signature, then the chain-of-trust proof.
const (
	hintsKeySize       = 1096
	blsAggregateSize   = 1632
	schnorrProofSize   = 192
	wrapsProofSize     = 704
	placeholderSigSize = HashSize
)

// StructureTSS is the TSSVerifier this package can offer: it checks that
// the signature is a hinTS key, a BLS aggregate and a Schnorr or WRAPS
// chain-of-trust proof by their sizes, and that a ledger id is known. It
// checks no cryptography.
type StructureTSS struct{}

// VerifyTSS implements TSSVerifier.
func (StructureTSS) VerifyTSS(ledger *Ledger, _ Hash, sig []byte) (Level, error) {
	switch len(sig) {
	case hintsKeySize + blsAggregateSize + schnorrProofSize, hintsKeySize + blsAggregateSize + wrapsProofSize:
	default:
		return LevelRootHash, fmt.Errorf("TSS signature of %d bytes: want %d (Schnorr chain of trust) or %d (WRAPS)", len(sig),
			hintsKeySize+blsAggregateSize+schnorrProofSize, hintsKeySize+blsAggregateSize+wrapsProofSize)
	}
	if ledger == nil || len(ledger.ID) != LedgerIDSize {
		return LevelRootHash, nil
	}
	return LevelTSSStructure, nil
}

// ProofVerifier verifies blocks' first proof as far as each kind can be:
//   - a wrapped record block: its record file rebuilt and read back
//     (RebuildRecordFile), and the node signatures over its file hash
//     weighed against the address book in force at its first consensus
//     time, as record files' signature files are;
//   - a TSS signature: the 48-byte placeholder of a network with TSS off
//     (only if AllowPlaceholder), else the TSS verifier's say;
//   - a state proof: the path from this block's root walked to the signed
//     root, whose signature then goes to the TSS verifier.
type ProofVerifier struct {
	// Books are the network's address books by time (wrapped record
	// blocks); nil refuses wrapped record blocks.
	Books *recordstream.BookHistory
	// Threshold is the share of the network that must sign a record file
	// (zero value: 1/3 of the stake, the mirror node's default).
	Threshold recordstream.Threshold
	// Ledger is the network's TSS trust anchor; nil leaves TSS and state
	// proofs at LevelRootHash.
	Ledger *Ledger
	// TSS checks TSS signatures; nil is StructureTSS.
	TSS TSSVerifier
	// AllowPlaceholder accepts the 48-byte SHA-384(root) placeholder of a
	// local network with TSS off.
	AllowPlaceholder bool
}

// Verify implements Verifier.
func (v *ProofVerifier) Verify(b *Block, root Hash, a Algorithm) (Verdict, error) {
	out := Verdict{Number: b.Header.Number, Root: root, Algorithm: a, Level: LevelRootHash}
	fail := func(cause error, format string, args ...any) (Verdict, error) {
		return out, proofErr(b, cause, format, args...)
	}
	if b.Wrapped {
		out.Proof = ProofRecordFile
		err := v.verifyWrapped(b, &out)
		return out, err
	}
	p, err := firstProof(b)
	if err != nil {
		return out, err
	}
	switch {
	case p.GetSignedBlockProof() != nil:
		out.Proof = ProofTSS
		sig := p.GetSignedBlockProof().GetBlockSignature()
		level, detail, err := v.tss(root, sig)
		out.Level, out.Detail = level, detail
		if err != nil {
			return fail(err, "TSS proof: %v", err)
		}
	case p.GetBlockStateProof() != nil:
		out.Proof = ProofStateProof
		signed, err := WalkStateProof(p.GetBlockStateProof(), root)
		if err != nil {
			return fail(err, "state proof: %v", err)
		}
		sig := p.GetBlockStateProof().GetSignedBlockProof().GetBlockSignature()
		out.SignedRoot = signed
		level, detail, err := v.tss(signed, sig)
		out.Level, out.Detail = level, fmt.Sprintf("state proof walks to signed root %s; %s", signed, detail)
		if err != nil {
			return fail(err, "state proof's signed root %s: %v", signed, err)
		}
	case p.GetSignedRecordFileProof() != nil:
		return fail(nil, "a signed record file proof on a block that wraps no record file")
	default:
		return fail(nil, "a proof of no kind this package knows")
	}
	return out, nil
}

// tss checks a TSS signature over message.
func (v *ProofVerifier) tss(message Hash, sig []byte) (Level, string, error) {
	if len(sig) == placeholderSigSize {
		sum := sha512.Sum384(message[:])
		switch {
		case !v.AllowPlaceholder:
			return LevelRootHash, "", errors.New("a 48-byte placeholder signature (a network with TSS off), not allowed here")
		case !bytes.Equal(sum[:], sig):
			return LevelRootHash, "", fmt.Errorf("placeholder signature %x is not SHA-384 of the root %s", sig, message)
		}
		return LevelTSSPlaceholder, "placeholder signature = SHA-384(root): no network signature", nil
	}
	verifier := v.TSS
	if verifier == nil {
		verifier = StructureTSS{}
	}
	level, err := verifier.VerifyTSS(v.Ledger, message, sig)
	if err != nil {
		return level, "", err
	}
	switch level {
	case LevelTSSVerified:
		return level, fmt.Sprintf("TSS signature (%d bytes) verified against ledger %x", len(sig), v.Ledger.ID), nil
	case LevelTSSStructure:
		return level, fmt.Sprintf("TSS signature (%d bytes) well formed for ledger %x; cryptography not checked", len(sig), v.Ledger.ID), nil
	}
	return level, fmt.Sprintf("TSS signature (%d bytes) well formed; no ledger id known, nothing ties it to the network", len(sig)), nil
}

// proofErr is a block's proof refused, with what found the fault.
func proofErr(b *Block, cause error, format string, args ...any) error {
	e := blockErr(b.Name, int64(b.Header.Number), ErrProof, format, args...)
	e.Cause = cause
	return e
}

func (v *ProofVerifier) verifyWrapped(b *Block, out *Verdict) error {
	w, err := RebuildRecordFile(b)
	if err != nil {
		return err
	}
	out.Wrapped = w
	if v.Books == nil {
		return proofErr(b, nil, "no address book to check the record file's node signatures with")
	}
	at := time.Unix(0, w.File.ConsensusStart)
	verdict, err := v.Books.VerifyFileHash(at, w.File.FileHash, w.Signatures, v.Threshold)
	out.Signers, out.Weighing = verdict.Signers, verdict.Weighing
	if err != nil {
		return proofErr(b, err, "record file %s: %v", w.File.Name, err)
	}
	out.Level = LevelRSASigned
	out.Detail = fmt.Sprintf("record file %s (v%d, hash %x) signed by nodes %v weighing %s", w.File.Name, w.File.Version, w.File.FileHash, verdict.Signers, verdict.Weighing)
	if len(w.MissingSidecars) > 0 {
		out.Detail += fmt.Sprintf("; sidecars %v not carried", w.MissingSidecars)
	}
	return nil
}

// rootPathIndex marks the path that reaches the signed root.
const rootPathIndex = 0xFFFFFFFF

// WalkStateProof walks a block state proof from root, the proven block's
// root hash, to the root hash it is signed under, as the mirror node does
// (BlockStateProofHasherImpl): three paths; the second starts from root
// and climbs its siblings (an empty sibling is a single-child node
// H(0x01‖h), a left one H(0x02‖sibling‖h), a right one H(0x02‖h‖sibling));
// the signed root joins the first path's timestamp leaf to the result,
// H(0x02‖H(0x00‖timestamp)‖h). The state proof's TSS signature is over
// the root it returns.
func WalkStateProof(sp *hederapb.StateProof, root Hash) (signed Hash, err error) {
	paths := sp.GetPaths()
	if len(paths) != 3 {
		return signed, fmt.Errorf("%d Merkle paths, want 3", len(paths))
	}
	start, climb, top := paths[0], paths[1], paths[2]
	if !bytes.Equal(climb.GetHash(), root[:]) {
		return signed, fmt.Errorf("the path starts from %x, not this block's root %s: %w", climb.GetHash(), root, ErrHashMismatch)
	}
	if len(climb.GetSiblings()) < 4 {
		return signed, fmt.Errorf("%d siblings, want at least 4", len(climb.GetSiblings()))
	}
	if start.GetTimestampLeaf() == nil {
		return signed, errors.New("the first path has no timestamp leaf")
	}
	if top.GetNextPathIndex() != rootPathIndex {
		return signed, fmt.Errorf("the last path's next index is %d, not the root marker", top.GetNextPathIndex())
	}
	x := hashers.Get().(*Hasher)
	defer hashers.Put(x)
	h := root
	var sib Hash
	for i, s := range climb.GetSiblings() {
		switch {
		case len(s.GetHash()) == 0:
			x.single(&h, &h)
		case len(s.GetHash()) != HashSize:
			return signed, fmt.Errorf("sibling %d of %d bytes", i, len(s.GetHash()))
		case s.GetIsLeft():
			copy(sib[:], s.GetHash())
			x.pair(&h, &sib, &h)
		default:
			copy(sib[:], s.GetHash())
			x.pair(&h, &h, &sib)
		}
	}
	var ts Hash
	x.leaf(&ts, start.GetTimestampLeaf())
	x.pair(&signed, &ts, &h)
	return signed, nil
}

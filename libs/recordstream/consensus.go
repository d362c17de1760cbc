package recordstream

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// How the mirror node decides that the network signed a stream file
// (importer ConsensusValidatorImpl, AddressBookServiceImpl.getNodes and
// ConsensusNodeWrapper): the verified signatures are grouped by the hash
// they sign, and a hash is the network's when the nodes that signed it
// hold at least ⌈ratio × total⌉ of the weight of every node of the
// address book in force — not of the nodes one chose to read. The ratio
// is 1/3 by default (CommonDownloaderProperties.consensusRatio).

// ConsensusMode says how much each node of a book weighs.
type ConsensusMode int

const (
	// ConsensusStake weighs each node by the book's stake field; a book
	// whose stakes are all zero weighs every node 1 (the mirror node's
	// STAKE mode, and ConsensusNodeWrapper's fallback when no node
	// carries stake).
	ConsensusStake ConsensusMode = iota
	// ConsensusEqual weighs every node 1: the threshold is a share of the
	// book's node count (the mirror node's EQUAL mode).
	ConsensusEqual
)

func (m ConsensusMode) String() string {
	if m == ConsensusEqual {
		return "EQUAL"
	}
	return "STAKE"
}

// ParseConsensusMode reads "EQUAL" or "STAKE" (any case).
func ParseConsensusMode(s string) (ConsensusMode, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "STAKE":
		return ConsensusStake, nil
	case "EQUAL":
		return ConsensusEqual, nil
	}
	return 0, fmt.Errorf("consensus mode %q: want EQUAL or STAKE", s)
}

// ParseRatio reads a share of the network: a fraction ("1/3") or a
// decimal ("0.34", "1"), kept exact. It must be more than 0 and at most 1.
func ParseRatio(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return nil, fmt.Errorf("%q: want a fraction like 1/3 or a decimal like 0.34", s)
	}
	if r.Sign() <= 0 || r.Cmp(big.NewRat(1, 1)) > 0 {
		return nil, fmt.Errorf("%q: must be more than 0 and at most 1", s)
	}
	return r, nil
}

// Threshold is how much of the network must sign the same hash.
type Threshold struct {
	Mode  ConsensusMode
	Ratio *big.Rat // nil: 1/3
}

// Required is ⌈ratio × total⌉: the weight a hash's signers need.
func (t Threshold) Required(total int64) int64 {
	r := t.Ratio
	if r == nil {
		r = big.NewRat(1, 3)
	}
	num := new(big.Int).Mul(big.NewInt(total), r.Num())
	q, m := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// Weighing is what a set of signers weighs against the network.
type Weighing struct {
	Weight   int64 // of the signers that are in the book
	Total    int64 // of every node of the book
	Required int64 // ⌈ratio × Total⌉
}

// Reached says whether the signers carry the threshold.
func (w Weighing) Reached() bool { return w.Total > 0 && w.Weight >= w.Required }

func (w Weighing) String() string {
	return fmt.Sprintf("%d of %d (%d needed)", w.Weight, w.Total, w.Required)
}

// weights is each node's weight in the book and their sum, by mode.
func (b *AddressBook) weights(mode ConsensusMode) (func(Node) int64, int64) {
	var stake int64
	if mode == ConsensusStake {
		for _, n := range b.byID {
			stake += max(n.Stake, 0)
		}
	}
	if stake == 0 {
		return func(Node) int64 { return 1 }, int64(len(b.byID))
	}
	return func(n Node) int64 { return max(n.Stake, 0) }, stake
}

// Weigh is what the nodes with these ids weigh in the book: each node of
// the book once, ids the book does not have nothing.
func (t Threshold) Weigh(b *AddressBook, nodeIDs []int64) Weighing {
	weight, total := b.weights(t.Mode)
	w := Weighing{Total: total, Required: t.Required(total)}
	seen := make(map[int64]bool, len(nodeIDs))
	for _, id := range nodeIDs {
		if n, ok := b.byID[id]; ok && !seen[id] {
			seen[id] = true
			w.Weight += weight(n)
		}
	}
	return w
}

// ErrNoConsensus: the nodes whose signatures verify do not carry the
// threshold of the network.
var ErrNoConsensus = errors.New("consensus not reached")

// NodeSignature is one node's SHA384withRSA signature over a record
// file's hash, as a wrapped record block's SignedRecordFileProof carries
// them: the signer's node id and the signature bytes.
type NodeSignature struct {
	NodeID    int64
	Signature []byte
}

// FileVerdict is what the network's signatures say of one file hash.
type FileVerdict struct {
	Weighing
	Signers []int64         // node ids whose signature verified, in the order given
	Failed  map[int64]error // node ids whose signature did not, and why
}

// VerifyFileHash checks the node signatures of a file hash with the keys
// of the address book in force at consensus time t and weighs the nodes
// whose signature verifies against the whole network in that book. The
// error wraps ErrNoConsensus when they do not carry the threshold; the
// verdict says who signed and who failed either way. This is the check
// both a record file's signature files and a wrapped record block's
// signatures go through (the mirror node's BlockStreamVerifier reuses its
// NodeSignatureVerifier the same way).
func (h *BookHistory) VerifyFileHash(t time.Time, fileHash []byte, sigs []NodeSignature, th Threshold) (FileVerdict, error) {
	book := h.At(t)
	v := FileVerdict{Failed: map[int64]error{}}
	for _, s := range sigs {
		n, ok := book.NodeByID(s.NodeID)
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("node id %d is not in the address book in force at %s: %w", s.NodeID, t.UTC().Format(time.RFC3339Nano), ErrBadSignature)
		case n.Key == nil:
			err = fmt.Errorf("node %s (id %d) has no usable key in the address book: %w", n.Account, n.NodeID, ErrBadSignature)
		default:
			err = verifyHash(n.Key, fileHash, s.Signature)
		}
		if err != nil {
			v.Failed[s.NodeID] = err
			continue
		}
		v.Signers = append(v.Signers, s.NodeID)
	}
	v.Weighing = th.Weigh(book, v.Signers)
	if !v.Reached() {
		return v, fmt.Errorf("file hash %x at %s: signers %v weigh %s: %w", fileHash, t.UTC().Format(time.RFC3339Nano), v.Signers, v.Weighing, ErrNoConsensus)
	}
	return v, nil
}

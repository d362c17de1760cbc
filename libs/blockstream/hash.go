package blockstream

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"sync"
)

// HashSize is the length of every hash in a block: SHA-384.
const HashSize = sha512.Size384

// Hash is a SHA-384 value.
type Hash [HashSize]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Algorithm is how a block's root hash is built from its items. Both build
// the same subtrees (SHA-384; leaf = H(0x00‖item), internal node =
// H(0x02‖left‖right), a streaming tree per item category, an empty subtree
// = H(0x00)); they differ in how the fixed leaves are folded.
type Algorithm uint8

const (
	// AlgorithmUnknown is no algorithm.
	AlgorithmUnknown Algorithm = iota
	// EightLeaf is the CN 0.71–0.73 root: the footer's three hashes and
	// the five subtree roots as a perfect tree of eight leaves, wrapped in a
	// single-child node H(0x01‖child), joined to the timestamp leaf.
	EightLeaf
	// SixteenLeaf is the root of later releases and of wrapped record
	// blocks: the same eight leaves (an empty start-of-block state hash
	// taken as H(0x00)) followed by eight extension subtree roots, folded as
	// one sixteen-leaf tree with no single-child wrap, joined to the
	// timestamp leaf.
	SixteenLeaf
)

func (a Algorithm) String() string {
	switch a {
	case EightLeaf:
		return "8-leaf"
	case SixteenLeaf:
		return "16-leaf"
	}
	return "unknown"
}

// AlgorithmFor is the root-hash algorithm a block is written with, by its
// HAPI version: eight leaves before 0.74, sixteen from 0.74 on and for every
// wrapped record block. The fixtures pin both sides of that line (CN 0.71
// and 0.73 blocks chain only under EightLeaf, 0.78 blocks and wrapped
// blocks only under SixteenLeaf); no block of 0.74–0.77 was available to
// pin the exact release, and none of the v0.80 the networks cut over with.
func AlgorithmFor(b *Block) Algorithm {
	if b.Wrapped || !b.Header.HAPI.Less(0, 74, 0) {
		return SixteenLeaf
	}
	return EightLeaf
}

// EmptyHash is the hash of an empty subtree, H(0x00); it is also block 0's
// previous root hash.
var EmptyHash = Hash(sha512.Sum384([]byte{0}))

// Subtrees of the block tree, in the order of the fixed leaves after the
// footer's three.
const (
	treeConsensus = iota
	treeInput
	treeOutput
	treeState
	treeTrace
	treeExtension0
	subtrees  = treeExtension0 + 8
	notHashed = -1
)

// subtreeOf is the subtree an item of kind k is a leaf of.
func subtreeOf(k Kind) int {
	switch k {
	case KindEventHeader, KindRoundHeader:
		return treeConsensus
	case KindSignedTransaction:
		return treeInput
	case KindBlockHeader, KindTransactionResult, KindTransactionOutput, KindRecordFile:
		return treeOutput
	case KindStateChanges:
		return treeState
	case KindTraceData:
		return treeTrace
	}
	if k >= 20 {
		// Items of later releases: the number modulo 20 says the subtree
		// (3 consensus, 4 input, 5 output, 6 state, 7 trace, 8–15 the
		// extension subtrees). The reader has refused the other values.
		if s := int(k % 20); s >= 3 && s <= 15 {
			return s - 3
		}
	}
	return notHashed // footer and proofs
}

// streamTree is one subtree, built as leaves arrive: after leaf n (from 0)
// the two top entries are joined while n's lowest bit is 1; the root folds
// what is left from right to left. 64 levels hold 2^64 leaves.
type streamTree struct {
	stack [64]Hash
	depth int
	n     uint64
}

func (t *streamTree) reset() { t.depth, t.n = 0, 0 }

// Hasher computes block root hashes without allocating per item: each
// node is one SHA-384 call over a buffer the Hasher keeps (a one-shot sum
// costs less than resetting and feeding a digest). Not safe for concurrent
// use; RootHash takes one from a pool.
type Hasher struct {
	scratch []byte // prefix ‖ item, grown to the largest item
	node    [1 + 2*HashSize]byte
	trees   [subtrees]streamTree
}

// NewHasher makes a Hasher.
func NewHasher() *Hasher { return &Hasher{scratch: make([]byte, 0, 4096)} }

// leaf is H(0x00‖data).
func (x *Hasher) leaf(dst *Hash, data []byte) {
	x.scratch = append(append(x.scratch[:0], 0), data...)
	*dst = sha512.Sum384(x.scratch)
}

// pair is H(0x02‖l‖r); dst may be l or r.
func (x *Hasher) pair(dst *Hash, l, r *Hash) {
	x.node[0] = 2
	copy(x.node[1:], l[:])
	copy(x.node[1+HashSize:], r[:])
	*dst = sha512.Sum384(x.node[:])
}

// single is H(0x01‖c); dst may be c.
func (x *Hasher) single(dst *Hash, c *Hash) {
	x.node[0] = 1
	copy(x.node[1:], c[:])
	*dst = sha512.Sum384(x.node[:1+HashSize])
}

// add appends a leaf hash (already H(0x00‖item)) to t.
func (x *Hasher) add(t *streamTree) {
	t.depth++
	for k := t.n; k&1 == 1; k >>= 1 {
		t.depth--
		x.pair(&t.stack[t.depth-1], &t.stack[t.depth-1], &t.stack[t.depth])
	}
	t.n++
}

// root folds what is left on t's stack into its root.
func (x *Hasher) root(dst *Hash, t *streamTree) {
	if t.depth == 0 {
		*dst = EmptyHash
		return
	}
	h := t.stack[t.depth-1]
	for i := t.depth - 2; i >= 0; i-- {
		x.pair(&h, &t.stack[i], &h)
	}
	*dst = h
}

// RootHash is b's root hash under algorithm a.
func (x *Hasher) RootHash(b *Block, a Algorithm) (Hash, error) {
	var out Hash
	for i := range x.trees {
		x.trees[i].reset()
	}
	for i := range b.Items {
		it := &b.Items[i]
		s := subtreeOf(it.Kind)
		if s == notHashed {
			continue
		}
		if s >= treeExtension0 && a != SixteenLeaf {
			return out, &Error{Name: b.Name, Number: int64(b.Header.Number), Item: i, Offset: -1,
				What: fmt.Sprintf("%s goes into an extension subtree, which the %s root has none of", it.Kind, a), Reason: ErrUnsupported}
		}
		t := &x.trees[s]
		x.leaf(&t.stack[t.depth], it.Raw)
		x.add(t)
	}
	var leaves [16]Hash
	copy(leaves[0][:], b.Footer.PreviousRootHash)
	if len(b.Footer.RootOfAllBlockHashes) != HashSize || (a == EightLeaf && len(b.Footer.StartOfBlockStateRootHash) != HashSize) {
		return out, blockErr(b.Name, int64(b.Header.Number), ErrMalformed, "block_footer: a %s root needs its hashes of all blocks and of the start-of-block state", a)
	}
	copy(leaves[1][:], b.Footer.RootOfAllBlockHashes)
	if len(b.Footer.StartOfBlockStateRootHash) == HashSize {
		copy(leaves[2][:], b.Footer.StartOfBlockStateRootHash)
	} else {
		leaves[2] = EmptyHash
	}
	for s := 0; s < subtrees; s++ {
		x.root(&leaves[3+s], &x.trees[s])
	}
	var ts Hash
	x.leaf(&ts, b.Header.timestamp)
	switch a {
	case EightLeaf:
		// Three levels over leaves 0–7, then the single-child wrap.
		for n := 8; n > 1; n /= 2 {
			for i := 0; i < n/2; i++ {
				x.pair(&leaves[i], &leaves[2*i], &leaves[2*i+1])
			}
		}
		x.single(&leaves[0], &leaves[0])
	case SixteenLeaf:
		for n := 16; n > 1; n /= 2 {
			for i := 0; i < n/2; i++ {
				x.pair(&leaves[i], &leaves[2*i], &leaves[2*i+1])
			}
		}
	default:
		return out, blockErr(b.Name, int64(b.Header.Number), ErrUnsupported, "root hash algorithm %s", a)
	}
	x.pair(&out, &ts, &leaves[0])
	return out, nil
}

var hashers = sync.Pool{New: func() any { return NewHasher() }}

// RootHash is b's root hash under the algorithm its version calls for
// (AlgorithmFor), computed over the items' bytes exactly as read.
func (b *Block) RootHash() (Hash, Algorithm, error) {
	a := AlgorithmFor(b)
	h, err := b.RootHashWith(a)
	return h, a, err
}

// RootHashWith is b's root hash under algorithm a.
func (b *Block) RootHashWith(a Algorithm) (Hash, error) {
	x := hashers.Get().(*Hasher)
	defer hashers.Put(x)
	return x.RootHash(b, a)
}

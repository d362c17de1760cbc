package blockstream

import "bytes"

// Link is a verified block as the next one must refer to it.
type Link struct {
	Number uint64
	Root   Hash
}

// Chain checks that blocks follow one another: each block's number is
// the previous one's plus one, and its footer's previous root hash is the
// previous block's root hash. A chain that starts without an anchor takes
// its first block as it comes (trust in that block then rests on its proof
// alone); block 0 must carry the empty previous hash, H(0x00). Not safe for
// concurrent use.
type Chain struct {
	last    Link
	started bool
}

// NewChain starts a chain from anchor: the next block must be
// anchor.Number+1 and name anchor.Root as its previous hash. At the
// cutover the anchor is the root hash of the wrapped record block of the
// last verified record file.
func NewChain(anchor Link) *Chain { return &Chain{last: anchor, started: true} }

// Last is the last block appended (or the anchor); ok is false for a chain
// that has had neither.
func (c *Chain) Last() (l Link, ok bool) { return c.last, c.started }

// Check says whether b may come next, without appending it. The error
// names the block and wraps ErrChainBroken.
func (c *Chain) Check(b *Block) error {
	n := b.Header.Number
	prev := b.Footer.PreviousRootHash
	if !c.started {
		if n == 0 && !bytes.Equal(prev, EmptyHash[:]) {
			return blockErr(b.Name, 0, ErrChainBroken, "block 0's previous root hash is %x, want the empty hash %s", prev, EmptyHash)
		}
		return nil
	}
	if c.last.Number == ^uint64(0) || n != c.last.Number+1 {
		return blockErr(b.Name, int64(n), ErrChainBroken, "block %d after block %d (want %d)", n, c.last.Number, c.last.Number+1)
	}
	if !bytes.Equal(prev, c.last.Root[:]) {
		return blockErr(b.Name, int64(n), ErrChainBroken, "previous root hash %x is not block %d's root hash %s", prev, c.last.Number, c.last.Root)
	}
	return nil
}

// Append checks b as Check does and makes it, with its root hash, the
// chain's last block.
func (c *Chain) Append(b *Block, root Hash) error {
	if err := c.Check(b); err != nil {
		return err
	}
	c.last, c.started = Link{Number: b.Header.Number, Root: root}, true
	return nil
}

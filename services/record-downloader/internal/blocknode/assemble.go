package blocknode

import (
	"fmt"

	"tributary.dev/libs/blockstream"
)

// assembler joins the item sets of one subscription into blocks: a block
// starts with its header, may span several sets, and ends with BlockEnd.
// The block's bytes are built as they come, in the encoding a .blk file
// holds (each item as Block field 1), so nothing is re-encoded.
type assembler struct {
	next     uint64 // the block this subscription must send next
	maxItems int
	maxBytes int

	open   bool   // a header has come and BlockEnd has not
	number uint64 // the open block's header number
	buf    []byte // the open block so far
	items  int
}

// protocolError is a node not keeping to the subscription protocol.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// tooLargeError is a block beyond the configured limits.
type tooLargeError struct{ msg string }

func (e *tooLargeError) Error() string { return e.msg }

// add appends one item set to the open block, opening it when the set
// starts with a header.
func (a *assembler) add(items [][]byte) error {
	if len(items) == 0 {
		return nil // carries nothing; the block node protocol forbids it, the mirror node ignores it
	}
	isHeader := blockstream.IsHeaderItem(items[0])
	switch {
	case !a.open && !isHeader:
		return &protocolError{fmt.Sprintf("item set for block %d does not start with a block header", a.next)}
	case a.open && isHeader:
		return &protocolError{fmt.Sprintf("a new block header while block %d is still open", a.number)}
	case isHeader:
		n, err := blockstream.HeaderItemNumber(items[0])
		if err != nil {
			return &protocolError{fmt.Sprintf("block %d: %v", a.next, err)}
		}
		if n != a.next {
			return &protocolError{fmt.Sprintf("sent block %d where block %d was due", n, a.next)}
		}
		a.open, a.number, a.buf, a.items = true, n, nil, 0
	}
	size := 0
	for _, it := range items {
		size += blockstream.ItemSize(it)
	}
	if a.items+len(items) > a.maxItems {
		return &tooLargeError{fmt.Sprintf("block %d has more than %d items", a.number, a.maxItems)}
	}
	if len(a.buf)+size > a.maxBytes {
		return &tooLargeError{fmt.Sprintf("block %d is larger than %d bytes", a.number, a.maxBytes)}
	}
	if a.buf == nil {
		a.buf = make([]byte, 0, size)
	}
	for _, it := range items {
		a.buf = blockstream.AppendItem(a.buf, it)
	}
	a.items += len(items)
	return nil
}

// end closes the open block at BlockEnd(number) and returns it; the next
// block is due after it.
func (a *assembler) end(number uint64) (Block, error) {
	if !a.open {
		return Block{}, &protocolError{fmt.Sprintf("end of block %d with no block open", number)}
	}
	if number != a.number {
		return Block{}, &protocolError{fmt.Sprintf("end of block %d while block %d is open", number, a.number)}
	}
	b := Block{Number: a.number, Bytes: a.buf, Items: a.items}
	a.open, a.buf, a.items = false, nil, 0
	a.next = number + 1
	return b, nil
}

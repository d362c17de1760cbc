package blockstream

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the wire shapes a block arrives in item by item (a
// block node streams BlockItem bytes, not a Block).
const (
	blockItemsWire   protowire.Number = 1 // Block.items
	itemHeaderWire   protowire.Number = 1 // BlockItem.block_header
	headerNumberWire protowire.Number = 3 // BlockHeader.number
)

// IsHeaderItem reports whether item (one BlockItem's bytes) is a
// block_header item.
func IsHeaderItem(item []byte) bool {
	num, typ, n := protowire.ConsumeTag(item)
	return n > 0 && num == itemHeaderWire && typ == protowire.BytesType
}

// HeaderItemNumber is the block number in a block_header item (0 when the
// header leaves it out, as proto3 does for block 0). The last occurrence
// wins, as in any protobuf decoder.
func HeaderItemNumber(item []byte) (uint64, error) {
	if !IsHeaderItem(item) {
		return 0, fmt.Errorf("item is not a block header")
	}
	_, _, n := protowire.ConsumeTag(item)
	header, m := protowire.ConsumeBytes(item[n:])
	if m < 0 || n+m != len(item) {
		return 0, fmt.Errorf("block header item is malformed")
	}
	var number uint64
	for len(header) > 0 {
		num, typ, n := protowire.ConsumeTag(header)
		if n < 0 {
			return 0, fmt.Errorf("block header: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, header[n:])
		if m < 0 {
			return 0, fmt.Errorf("block header field %d: %w", num, protowire.ParseError(m))
		}
		if num == headerNumberWire {
			if typ != protowire.VarintType {
				return 0, fmt.Errorf("block header number has wire type %d", typ)
			}
			number, _ = protowire.ConsumeVarint(header[n:])
		}
		header = header[n+m:]
	}
	return number, nil
}

// AppendItem appends one BlockItem's bytes to a serialized Block as its
// next item (tag 0x0a, length, the bytes): a .blk file is such items end
// to end.
func AppendItem(block, item []byte) []byte {
	block = protowire.AppendTag(block, blockItemsWire, protowire.BytesType)
	return protowire.AppendBytes(block, item)
}

// ItemSize is how many bytes AppendItem adds for item.
func ItemSize(item []byte) int {
	return protowire.SizeTag(blockItemsWire) + protowire.SizeBytes(len(item))
}

package blocknode

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
)

// Wire numbers of the block stream messages the stand-in looks into
// (public hapi `block/stream/block_item.proto`, `output/block_header.proto`).
const (
	blockItemsField   = 1  // Block.items
	itemBlockHeader   = 1  // BlockItem.block_header
	itemRoundHeader   = 3  // BlockItem.round_header
	itemSignedTx      = 4  // BlockItem.signed_transaction
	itemTxResult      = 5  // BlockItem.transaction_result
	itemBlockProof    = 9  // BlockItem.block_proof
	itemBlockFooter   = 12 // BlockItem.block_footer
	headerHAPIVersion = 1  // BlockHeader.hapi_proto_version
	headerNumber      = 3  // BlockHeader.number
	headerTimestamp   = 4  // BlockHeader.block_timestamp
)

// ReadBlockFile reads a block file into the serialized Block it holds,
// decompressing by the name's suffix: .blk.zstd, .blk.gz or .blk.
func ReadBlockFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasSuffix(path, ".blk.zstd"):
		dec, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer dec.Close()
		out, err := dec.DecodeAll(raw, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", path, err)
		}
		return out, nil
	case strings.HasSuffix(path, ".blk.gz"):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		return out, nil
	case strings.HasSuffix(path, ".blk"):
		return raw, nil
	}
	return nil, fmt.Errorf("%s: not a block file (.blk, .blk.gz or .blk.zstd)", path)
}

// SplitItems returns the items of a serialized Block, each the exact bytes
// of one BlockItem, as sub-slices of block. Anything but a sequence of
// field-1 length-delimited records is refused.
func SplitItems(block []byte) ([][]byte, error) {
	var items [][]byte
	for off := 0; off < len(block); {
		num, typ, n := protowire.ConsumeTag(block[off:])
		if n < 0 {
			return nil, fmt.Errorf("block offset %d: %w", off, protowire.ParseError(n))
		}
		if num != blockItemsField || typ != protowire.BytesType {
			return nil, fmt.Errorf("block offset %d: field %d wire type %d is not a Block item", off, num, typ)
		}
		item, m := protowire.ConsumeBytes(block[off+n:])
		if m < 0 {
			return nil, fmt.Errorf("block offset %d: %w", off, protowire.ParseError(m))
		}
		items = append(items, item)
		off += n + m
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("block has no items")
	}
	return items, nil
}

// JoinItems is the serialized Block of items: each written as field 1
// (tag 0x0a, length, the item's bytes).
func JoinItems(items [][]byte) []byte {
	size := 0
	for _, it := range items {
		size += 1 + protowire.SizeVarint(uint64(len(it))) + len(it)
	}
	out := make([]byte, 0, size)
	for _, it := range items {
		out = protowire.AppendTag(out, blockItemsField, protowire.BytesType)
		out = protowire.AppendBytes(out, it)
	}
	return out
}

// HeaderNumber is the block number in a block_header item (0 when the
// header leaves it out, as proto3 does for block 0).
func HeaderNumber(item []byte) (uint64, error) {
	num, typ, n := protowire.ConsumeTag(item)
	if n < 0 || num != itemBlockHeader || typ != protowire.BytesType {
		return 0, fmt.Errorf("first item is not a block header")
	}
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
		if num == headerNumber && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(header[n:])
			if m < 0 {
				return 0, fmt.Errorf("block header number: %w", protowire.ParseError(m))
			}
			number = v // the last occurrence wins, as in any protobuf decoder
			header = header[n+m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, header[n:])
		if m < 0 {
			return 0, fmt.Errorf("block header field %d: %w", num, protowire.ParseError(m))
		}
		header = header[n+m:]
	}
	return number, nil
}

// GenerateBlock is a structurally complete block numbered number with txs
// transactions: a header, a round, txs signed transactions each with its
// result, a footer and a proof. Its contents are deterministic in number
// and txs but are filler: the hashes are not a chain and the proof is not
// signed, so it exercises transport (item sets, block ends, faults), never
// verification.
func GenerateBlock(number uint64, txs int) []byte {
	const sec = 1_767_225_600 // 2026-01-01T00:00:00Z; two seconds a block from there
	var items [][]byte
	msg := func(field protowire.Number, body []byte) []byte {
		b := protowire.AppendTag(nil, field, protowire.BytesType)
		return protowire.AppendBytes(b, body)
	}
	timestamp := func(seconds uint64, nanos uint64) []byte {
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, seconds)
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		return protowire.AppendVarint(b, nanos)
	}
	version := []byte{0x10, 80} // SemanticVersion{minor: 80}
	var header []byte
	header = protowire.AppendBytes(protowire.AppendTag(header, headerHAPIVersion, protowire.BytesType), version)
	header = protowire.AppendVarint(protowire.AppendTag(header, headerNumber, protowire.VarintType), number)
	header = protowire.AppendBytes(protowire.AppendTag(header, headerTimestamp, protowire.BytesType), timestamp(sec+2*number, 0))
	items = append(items, msg(itemBlockHeader, header))
	items = append(items, msg(itemRoundHeader, protowire.AppendVarint([]byte{0x08}, number+1)))
	for i := 0; i < txs; i++ {
		body := make([]byte, 48)
		binary.BigEndian.PutUint64(body, number)
		binary.BigEndian.PutUint64(body[8:], uint64(i))
		signed := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), body) // SignedTransaction.bodyBytes
		items = append(items, msg(itemSignedTx, signed))
		var result []byte
		result = protowire.AppendVarint(protowire.AppendTag(result, 1, protowire.VarintType), 22) // status SUCCESS
		result = protowire.AppendBytes(protowire.AppendTag(result, 2, protowire.BytesType), timestamp(sec+2*number, uint64(i+1)))
		items = append(items, msg(itemTxResult, result))
	}
	prev := make([]byte, 48)
	binary.BigEndian.PutUint64(prev, number-1)
	items = append(items, msg(itemBlockFooter, protowire.AppendBytes([]byte{0x0a}, prev)))
	items = append(items, msg(itemBlockProof, protowire.AppendVarint([]byte{0x08}, number)))
	return JoinItems(items)
}

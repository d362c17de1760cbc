package blockstream

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"
)

// Limits bound what one block may take. The defaults are the mirror
// node's (StreamProperties: 800 000 items and 512 MiB per block): a block
// over them is refused before the memory for it is taken.
type Limits struct {
	// MaxItems is the most items a block may have.
	MaxItems int
	// MaxBytes is the most bytes a block may have, compressed as stored
	// and decompressed.
	MaxBytes int64
}

// DefaultLimits are the mirror node's per-block limits.
var DefaultLimits = Limits{MaxItems: 800_000, MaxBytes: 512 << 20}

// The first release whose block layout this package reads: CN 0.71 wrote
// the footer and the proofs as they are now (earlier pre-release streams
// used other field numbers and other hashes).
const minMajor, minMinor = 0, 71

// Reader reads block files. Its zero value is not usable; make one with
// NewReader. Safe for concurrent use.
type Reader struct {
	limits Limits
	// RequireBlockName refuses names that are not block object names
	// (ParseName): a downloader sets it, so that every block it accepts
	// was checked against the number its name promised.
	RequireBlockName bool
	zstd             *zstd.Decoder
}

// NewReader makes a Reader with these limits (zero fields take the
// defaults).
func NewReader(limits Limits) *Reader {
	if limits.MaxItems <= 0 {
		limits.MaxItems = DefaultLimits.MaxItems
	}
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = DefaultLimits.MaxBytes
	}
	// The decoder refuses a frame that declares, or grows to, more than
	// MaxBytes before allocating for it.
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limits.MaxBytes)))
	if err != nil {
		panic(fmt.Sprintf("zstd decoder: %v", err)) // only for invalid options
	}
	return &Reader{limits: limits, zstd: zd}
}

var defaultReader = sync.OnceValue(func() *Reader { return NewReader(DefaultLimits) })

// Limits are the reader's limits.
func (r *Reader) Limits() Limits { return r.limits }

// Read reads one block file from src: name says the compression (.blk,
// .blk.gz, .blk.zstd) and, when it is a block object name, the number the
// header must carry.
func (r *Reader) Read(name string, src io.Reader) (*Block, error) {
	data, err := readBounded(src, nil, r.limits.MaxBytes+1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > r.limits.MaxBytes {
		return nil, blockErr(name, -1, ErrTooLarge, "more than %d bytes stored", r.limits.MaxBytes)
	}
	return r.Parse(name, data)
}

// Parse reads one block held in data, as stored. The block's items alias
// data (or its decompressed copy): data must not change while they are in
// use.
func (r *Reader) Parse(name string, data []byte) (*Block, error) {
	plain, err := r.Decompress(name, data, nil)
	if err != nil {
		return nil, err
	}
	return r.ParsePlain(name, plain)
}

// Decompress turns a stored block into the serialized Block, appending to
// dst (which may be nil, or a buffer to reuse when the previous block is no
// longer used). The compression comes from name.
func (r *Reader) Decompress(name string, data, dst []byte) ([]byte, error) {
	c, ok := compressionOf(name)
	if !ok {
		return nil, blockErr(name, -1, ErrMisnamed, "want a .blk, .blk.gz or .blk.zstd name")
	}
	number := int64(-1)
	if n, err := ParseName(name); err == nil {
		number = int64(n.Number)
	}
	switch c {
	case Plain:
		if int64(len(data)) > r.limits.MaxBytes {
			return nil, blockErr(name, number, ErrTooLarge, "more than %d bytes", r.limits.MaxBytes)
		}
		return data, nil
	case Zstd:
		out, err := r.zstd.DecodeAll(data, dst[:0])
		if err != nil {
			reason := ErrMalformed
			switch {
			case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
				reason = ErrTooLarge
			case errors.Is(err, io.ErrUnexpectedEOF):
				reason = ErrTruncated
			}
			return nil, blockErr(name, number, reason, "zstd: %v", err)
		}
		if int64(len(out)) > r.limits.MaxBytes {
			return nil, blockErr(name, number, ErrTooLarge, "more than %d bytes decompressed", r.limits.MaxBytes)
		}
		return out, nil
	default:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			reason := ErrMalformed
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				reason = ErrTruncated
			}
			return nil, blockErr(name, number, reason, "gzip header: %v", err)
		}
		out, err := readBounded(zr, dst[:0], r.limits.MaxBytes+1)
		n := int64(len(out))
		if err != nil {
			reason := ErrMalformed
			if errors.Is(err, io.ErrUnexpectedEOF) {
				reason = ErrTruncated
			}
			return nil, &Error{Name: name, Number: number, Item: -1, Offset: n, What: "gunzip: " + err.Error(), Reason: reason}
		}
		if n > r.limits.MaxBytes {
			return nil, blockErr(name, number, ErrTooLarge, "more than %d bytes decompressed", r.limits.MaxBytes)
		}
		return out, nil
	}
}

// readBounded appends what r yields to dst, at most limit bytes: the buffer
// doubles as it fills but never past limit, so a stream that expands far
// beyond the limit costs at most about twice the limit.
func readBounded(r io.Reader, dst []byte, limit int64) ([]byte, error) {
	for int64(len(dst)) < limit {
		if len(dst) == cap(dst) {
			grown := min(limit, int64(max(2*cap(dst), 64<<10)))
			dst = append(make([]byte, 0, grown), dst...)
		}
		n, err := r.Read(dst[len(dst):min(int64(cap(dst)), limit)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Read reads one block file with the default limits.
func Read(name string, src io.Reader) (*Block, error) { return defaultReader().Read(name, src) }

// Parse reads one stored block with the default limits.
func Parse(name string, data []byte) (*Block, error) { return defaultReader().Parse(name, data) }

// ParsePlain reads a serialized Block (not compressed). It walks the wire
// format once to count the items (refusing more than MaxItems before
// allocating for them), then once to split them, decoding only the header
// and the footer, and checks the block's shape:
//   - the header comes first, once; the footer once; after the footer one
//     or more proofs and nothing else;
//   - a transaction sits inside an event (after an event header, not
//     directly after a round header);
//   - a wrapped record block has exactly one record file and no events,
//     rounds or transactions;
//   - no filtered or redacted item, no unknown item numbered below 20;
//   - SHA-384, and a layout from CN 0.71 on (wrapped blocks carry their
//     record file's version and are exempt);
//   - a block object name's number is the header's.
func (r *Reader) ParsePlain(name string, plain []byte) (*Block, error) {
	nameNumber := int64(-1)
	if n, err := ParseName(name); err == nil {
		nameNumber = int64(n.Number)
	} else if r.RequireBlockName {
		return nil, blockErr(name, -1, ErrMisnamed, "%v", err)
	}
	if int64(len(plain)) > r.limits.MaxBytes {
		return nil, blockErr(name, nameNumber, ErrTooLarge, "more than %d bytes", r.limits.MaxBytes)
	}
	count, wrapped, err := countItems(name, nameNumber, plain, r.limits.MaxItems)
	if err != nil {
		return nil, err
	}
	b := &Block{Name: name, Size: int64(len(plain)), Items: make([]Item, 0, count), counts: make(map[Kind]int, 12), footerIndex: -1}
	p := parser{b: b, number: nameNumber, wrapped: wrapped}
	off := 0
	for off < len(plain) {
		_, _, n := protowire.ConsumeTag(plain[off:])
		raw, m := protowire.ConsumeBytes(plain[off+n:])
		start := off + n + m - len(raw)
		if err := p.item(raw, int64(start)); err != nil {
			return nil, err
		}
		off += n + m
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	if nameNumber >= 0 && uint64(nameNumber) != b.Header.Number {
		return nil, blockErr(name, int64(b.Header.Number), ErrMisnamed, "the name says block %d, the header %d", nameNumber, b.Header.Number)
	}
	return b, nil
}

// countItems checks the Block message's framing and counts its items; it
// also says whether one is a record file (a wrapped record block, whose
// header carries the record file's version rather than the layout's).
func countItems(name string, number int64, plain []byte, max int) (count int, wrapped bool, err error) {
	for off := 0; off < len(plain); {
		num, typ, n := protowire.ConsumeTag(plain[off:])
		if n < 0 {
			return 0, false, wireErr(name, number, count, int64(off), "item tag", n)
		}
		if num != 1 || typ != protowire.BytesType {
			return 0, false, &Error{Name: name, Number: number, Item: count, Offset: int64(off), What: fmt.Sprintf("Block field %d wire type %d: a block holds only items (field 1)", num, typ), Reason: ErrMalformed}
		}
		item, m := protowire.ConsumeBytes(plain[off+n:])
		if m < 0 {
			return 0, false, wireErr(name, number, count, int64(off+n), "item length", m)
		}
		if k, _, _ := protowire.ConsumeTag(item); Kind(k) == KindRecordFile {
			wrapped = true
		}
		off += n + m
		count++
		if count > max {
			return 0, false, &Error{Name: name, Number: number, Item: count - 1, Offset: int64(off), What: fmt.Sprintf("more than %d items", max), Reason: ErrTooLarge}
		}
	}
	if count == 0 {
		return 0, false, blockErr(name, number, ErrMalformed, "no items")
	}
	return count, wrapped, nil
}

func wireErr(name string, number int64, item int, off int64, what string, code int) *Error {
	reason := ErrMalformed
	if errors.Is(protowire.ParseError(code), io.ErrUnexpectedEOF) {
		reason = ErrTruncated
	}
	return &Error{Name: name, Number: number, Item: item, Offset: off, What: fmt.Sprintf("%s: %v", what, protowire.ParseError(code)), Reason: reason}
}

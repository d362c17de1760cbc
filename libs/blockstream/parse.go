package blockstream

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// parser checks items one by one as ParsePlain splits them.
type parser struct {
	b      *Block
	number int64 // for errors: the name's number until the header is read

	wrapped     bool // a record_file item is in the block
	inEvent     bool // an event header was seen since the last round header
	recordFiles int
	consensus   int // event and round headers, transactions and their outputs
}

func (p *parser) fail(item int, off int64, reason error, format string, args ...any) *Error {
	return &Error{Name: p.b.Name, Number: p.number, Item: item, Offset: off, What: fmt.Sprintf(format, args...), Reason: reason}
}

// item takes one serialized BlockItem found at offset off.
func (p *parser) item(raw []byte, off int64) error {
	b := p.b
	i := len(b.Items)
	num, typ, n := protowire.ConsumeTag(raw)
	if n < 0 {
		e := wireErr(b.Name, p.number, i, off, "item field tag", n)
		return e
	}
	if typ != protowire.BytesType {
		return p.fail(i, off, ErrMalformed, "item field %d has wire type %d; every item is a message or bytes", num, typ)
	}
	payload, m := protowire.ConsumeBytes(raw[n:])
	if m < 0 {
		return wireErr(b.Name, p.number, i, off+int64(n), "item field length", m)
	}
	if n+m != len(raw) {
		return p.fail(i, off+int64(n+m), ErrMalformed, "item holds more than one field (%d bytes after field %d)", len(raw)-n-m, num)
	}
	k := Kind(num)
	if i == 0 && k != KindBlockHeader {
		return p.fail(i, off, ErrMalformed, "first item is %s, want block_header", k)
	}
	if b.footerIndex >= 0 && k != KindBlockProof {
		return p.fail(i, off, ErrMalformed, "%s after the block footer (only proofs may follow it)", k)
	}
	switch k {
	case KindBlockHeader:
		if i != 0 {
			return p.fail(i, off, ErrMalformed, "second block_header")
		}
		if err := p.header(payload, off); err != nil {
			return err
		}
	case KindRoundHeader:
		p.inEvent = false
		p.consensus++
	case KindEventHeader:
		p.inEvent = true
		p.consensus++
	case KindSignedTransaction:
		if !p.inEvent {
			return p.fail(i, off, ErrMalformed, "signed_transaction outside an event (no event_header since the last round_header)")
		}
		p.consensus++
	case KindTransactionResult, KindTransactionOutput, KindTraceData:
		p.consensus++
	case KindStateChanges:
	case KindRecordFile:
		p.recordFiles++
	case KindBlockFooter:
		b.footerIndex = i
		if err := p.footer(payload, off); err != nil {
			return err
		}
	case KindBlockProof:
		if b.footerIndex < 0 {
			return p.fail(i, off, ErrMalformed, "block_proof before the block footer")
		}
	case KindFilteredSingleItem, KindRedactedItem:
		return p.fail(i, off, ErrUnsupported, "%s: a filtered or redacted block cannot be verified by this reader", k)
	default:
		if k < 20 {
			return p.fail(i, off, ErrUnsupported, "unknown item field %d (below 20: no subtree to hash it into)", num)
		}
		if s := k % 20; s < 3 || s > 15 {
			return p.fail(i, off, ErrUnsupported, "unknown item field %d: field mod 20 = %d names no subtree", num, s)
		}
	}
	b.Items = append(b.Items, Item{Kind: k, Raw: raw, Payload: payload})
	b.counts[k]++
	return nil
}

// finish checks what only the whole block can tell.
func (p *parser) finish() error {
	b := p.b
	if b.footerIndex < 0 {
		return p.fail(-1, -1, ErrMalformed, "no block_footer")
	}
	if len(b.Items) == b.footerIndex+1 {
		return p.fail(-1, -1, ErrMalformed, "no block_proof after the footer")
	}
	switch {
	case p.recordFiles > 1:
		return p.fail(-1, -1, ErrMalformed, "%d record_file items (a wrapped record block has one)", p.recordFiles)
	case p.recordFiles == 1 && p.consensus > 0:
		return p.fail(-1, -1, ErrMalformed, "a wrapped record block with %d event, round or transaction items", p.consensus)
	}
	b.Wrapped = p.recordFiles == 1
	return nil
}

// header decodes the BlockHeader.
func (p *parser) header(m []byte, off int64) error {
	h := &p.b.Header
	var algorithm uint64
	err := eachField(m, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			return decodeVersion(v, &h.HAPI)
		case num == 2 && typ == protowire.BytesType:
			return decodeVersion(v, &h.Software)
		case num == 3 && typ == protowire.VarintType:
			h.Number = x
		case num == 4 && typ == protowire.BytesType:
			h.timestamp = v
			ns, err := decodeTimestamp(v)
			if err != nil {
				return err
			}
			h.TimestampNs = ns
		case num == 5 && typ == protowire.VarintType:
			algorithm = x
		case num <= 5:
			return fmt.Errorf("field %d has wire type %d", num, typ)
		}
		return nil
	})
	p.number = int64(h.Number)
	if !p.wrapped && h.HAPI.Less(minMajor, minMinor, 0) {
		// Checked before the header's own errors, so that every
		// pre-release block is refused for what it is rather than for the
		// first field that moved.
		return p.fail(0, off, ErrUnsupported, "HAPI %s: a pre-release block layout (this reader reads CN %d.%d and later)", h.HAPI, minMajor, minMinor)
	}
	if err != nil {
		return p.fail(0, off, ErrMalformed, "block_header: %v", err)
	}
	if algorithm != 0 {
		return p.fail(0, off, ErrUnsupported, "block_header: hash algorithm %d (only SHA2_384 = 0 is defined)", algorithm)
	}
	if h.timestamp == nil {
		return p.fail(0, off, ErrMalformed, "block_header: no block_timestamp (the root hash's first leaf)")
	}
	return nil
}

// footer decodes the BlockFooter.
func (p *parser) footer(m []byte, off int64) error {
	f := &p.b.Footer
	err := eachField(m, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num > 3 {
			return nil
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("field %d has wire type %d", num, typ)
		}
		if len(v) != 0 && len(v) != HashSize {
			return fmt.Errorf("field %d: %d bytes, want %d", num, len(v), HashSize)
		}
		switch num {
		case 1:
			f.PreviousRootHash = v
		case 2:
			f.RootOfAllBlockHashes = v
		case 3:
			f.StartOfBlockStateRootHash = v
		}
		return nil
	})
	if err != nil {
		return p.fail(len(p.b.Items), off, ErrMalformed, "block_footer: %v", err)
	}
	if len(f.PreviousRootHash) != HashSize {
		return p.fail(len(p.b.Items), off, ErrMalformed, "block_footer: no previous block root hash")
	}
	return nil
}

// eachField walks a message's fields: v is a length-delimited field's
// bytes, x a varint or fixed field's value. Groups are refused.
func eachField(m []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(m) > 0 {
		num, typ, n := protowire.ConsumeTag(m)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m = m[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(m)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(m)
			x = uint64(x32)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(m)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(m)
		default:
			return fmt.Errorf("field %d: wire type %d", num, typ)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %v", num, protowire.ParseError(n))
		}
		m = m[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func decodeVersion(m []byte, v *Version) error {
	return eachField(m, func(num protowire.Number, typ protowire.Type, b []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			v.Major = int32(x)
		case num == 2 && typ == protowire.VarintType:
			v.Minor = int32(x)
		case num == 3 && typ == protowire.VarintType:
			v.Patch = int32(x)
		case num == 4 && typ == protowire.BytesType:
			v.Pre = string(b)
		case num == 5 && typ == protowire.BytesType:
			v.Build = string(b)
		case num <= 5:
			return fmt.Errorf("version field %d has wire type %d", num, typ)
		}
		return nil
	})
}

// decodeTimestamp reads a Timestamp {int64 seconds = 1; int32 nanos = 2}
// into nanoseconds since the epoch.
func decodeTimestamp(m []byte) (int64, error) {
	var s, ns int64
	err := eachField(m, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			s = int64(x)
		case num == 2 && typ == protowire.VarintType:
			ns = int64(int32(x))
		case num <= 2:
			return fmt.Errorf("timestamp field %d has wire type %d", num, typ)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if ns < 0 || ns >= 1e9 || s < 0 || s > (1<<63-1)/1_000_000_000-1 {
		return 0, fmt.Errorf("timestamp %d s %d ns out of range", s, ns)
	}
	return s*1e9 + ns, nil
}

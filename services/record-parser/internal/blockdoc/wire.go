package blockdoc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one field of a message as read off the wire: its number and
// type, a varint's value, a length-delimited field's bytes.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// fields walks a message one field at a time without allocating.
type fields struct {
	buf []byte
	err error
}

// next reads the next field into f; false at the end or on an error
// (then err says which).
func (it *fields) next(f *field) bool {
	if len(it.buf) == 0 || it.err != nil {
		return false
	}
	num, typ, n := protowire.ConsumeTag(it.buf)
	if n < 0 {
		it.err = protowire.ParseError(n)
		return false
	}
	it.buf = it.buf[n:]
	f.num, f.typ, f.v, f.b = num, typ, 0, nil
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(it.buf)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(it.buf)
		if n >= 0 && f.b == nil {
			f.b = []byte{}
		}
	default:
		n = protowire.ConsumeFieldValue(num, typ, it.buf)
	}
	if n < 0 {
		it.err = fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		return false
	}
	it.buf = it.buf[n:]
	return true
}

// bytesField returns the last length-delimited field num of msg (nil when
// absent).
func bytesField(msg []byte, num protowire.Number) ([]byte, error) {
	var out []byte
	it := fields{buf: msg}
	var f field
	for it.next(&f) {
		if f.num == num && f.typ == protowire.BytesType {
			out = f.b
		}
	}
	return out, it.err
}

// varintField returns the last varint field num of msg.
func varintField(msg []byte, num protowire.Number) (uint64, bool, error) {
	var out uint64
	seen := false
	it := fields{buf: msg}
	var f field
	for it.next(&f) {
		if f.num == num && f.typ == protowire.VarintType {
			out, seen = f.v, true
		}
	}
	return out, seen, it.err
}

// timestampNs reads a Timestamp {seconds = 1; nanos = 2} as nanoseconds.
func timestampNs(msg []byte) (int64, error) {
	var s, ns int64
	it := fields{buf: msg}
	var f field
	for it.next(&f) {
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 1:
			s = int64(f.v)
		case 2:
			ns = int64(int32(f.v))
		}
	}
	if it.err != nil {
		return 0, it.err
	}
	return s*1e9 + ns, nil
}

// entityNum is the number of an id message (shard = 1, realm = 2, num =
// 3 for every id type).
func entityNum(msg []byte) int64 {
	n, _, _ := varintField(msg, 3)
	return int64(n)
}

// appendBytes appends field num with value v.
func appendBytes(dst []byte, num protowire.Number, v []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, v)
}

// appendVarint appends field num with value v.
func appendVarint(dst []byte, num protowire.Number, v uint64) []byte {
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}

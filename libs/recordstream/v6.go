package recordstream

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// SidecarType is the kind of records a sidecar file holds.
type SidecarType = hederapb.SidecarType

// RecordStreamFile field numbers (streams/record_stream_file.proto).
const (
	rsfHAPI      = 1
	rsfStart     = 2
	rsfItem      = 3
	rsfEnd       = 4
	rsfBlock     = 5
	rsfSidecar   = 6
	itemTx       = 1
	itemRecord   = 2
	recConsensus = 3 // TransactionRecord.consensusTimestamp
	tsSeconds    = 1
	tsNanos      = 2
)

// parseV6: int32 6 | RecordStreamFile. The file is walked field by field
// rather than unmarshalled whole so that items stay slices of the buffer,
// byte for byte what the node hashed, instead of copies per item; the
// small header messages go through the generated types.
func parseV6(c *cursor) (*RecordFile, error) {
	f := &RecordFile{}
	var start, end *hederapb.HashObject
	var hapi hederapb.SemanticVersion
	for c.left() > 0 {
		at := c.off
		num, typ, n := protowire.ConsumeTag(c.buf[c.off:])
		if n < 0 {
			return nil, protoFail(c, at, "RecordStreamFile field tag", n)
		}
		c.off += n
		if typ == protowire.BytesType && num >= rsfHAPI && num <= rsfSidecar && num != rsfBlock {
			v, n := protowire.ConsumeBytes(c.buf[c.off:])
			if n < 0 {
				return nil, protoFail(c, c.off, fmt.Sprintf("RecordStreamFile field %d", num), n)
			}
			c.off += n
			var err error
			switch num {
			case rsfHAPI:
				err = proto.UnmarshalOptions{Merge: true}.Unmarshal(v, &hapi)
			case rsfStart:
				start, err = mergeHash(start, v)
			case rsfEnd:
				end, err = mergeHash(end, v)
			case rsfItem:
				var it Item
				if it, err = parseV6Item(v); err == nil {
					f.Items = append(f.Items, it)
				}
			case rsfSidecar:
				var sc hederapb.SidecarMetadata
				if err = proto.Unmarshal(v, &sc); err == nil {
					f.Sidecars = append(f.Sidecars, SidecarMeta{ID: sc.GetId(), Hash: sc.GetHash().GetHash(), Types: sc.GetTypes()})
				}
			}
			if err != nil {
				return nil, c.fail(at, ErrMalformed, "RecordStreamFile field %d (item %d): %v", num, len(f.Items), err)
			}
			continue
		}
		if num == rsfBlock && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(c.buf[c.off:])
			if n < 0 {
				return nil, protoFail(c, c.off, "block number", n)
			}
			c.off += n
			f.BlockNumber = int64(v)
			continue
		}
		if num >= rsfHAPI && num <= rsfSidecar {
			return nil, c.fail(at, ErrMalformed, "RecordStreamFile field %d has wire type %d", num, typ)
		}
		// A field a newer network added: skip it, as protobuf does.
		n = protowire.ConsumeFieldValue(num, typ, c.buf[c.off:])
		if n < 0 {
			return nil, protoFail(c, c.off, fmt.Sprintf("RecordStreamFile field %d", num), n)
		}
		c.off += n
	}
	for _, h := range []struct {
		what string
		obj  *hederapb.HashObject
	}{{"start running hash", start}, {"end running hash", end}} {
		if len(h.obj.GetHash()) != HashSize {
			return nil, c.fail(c.off, ErrMalformed, "%s: %d bytes, want %d", h.what, len(h.obj.GetHash()), HashSize)
		}
	}
	for i, sc := range f.Sidecars {
		if len(sc.Hash) != HashSize {
			return nil, c.fail(c.off, ErrMalformed, "sidecar %d: hash of %d bytes, want %d", sc.ID, len(sc.Hash), HashSize)
		}
		f.Sidecars[i].Name = SidecarName(c.file, sc.ID)
	}
	f.HAPI = HAPIVersion{Major: hapi.GetMajor(), Minor: hapi.GetMinor(), Patch: hapi.GetPatch()}
	f.PrevHash = start.GetHash()
	running := newRunningHash(f.PrevHash)
	for _, it := range f.Items {
		running.add(it.Record, it.Transaction)
	}
	if !bytes.Equal(running.sum, end.GetHash()) {
		return nil, runningHashMismatch(c, c.off, end.GetHash(), running.sum)
	}
	f.EndRunningHash = running.sum
	whole := sha512.Sum384(c.buf)
	f.FileHash = whole[:]
	f.MetadataHash = v6MetadataHash(f.HAPI, f.PrevHash, f.EndRunningHash, f.BlockNumber)
	return f, nil
}

func mergeHash(into *hederapb.HashObject, b []byte) (*hederapb.HashObject, error) {
	if into == nil {
		into = &hederapb.HashObject{}
	}
	return into, proto.UnmarshalOptions{Merge: true}.Unmarshal(b, into)
}

func protoFail(c *cursor, at int, what string, code int) error {
	err := protowire.ParseError(code)
	reason := ErrMalformed
	if errors.Is(err, io.ErrUnexpectedEOF) {
		reason = ErrTruncated
	}
	return c.fail(at, reason, "%s: %v", what, err)
}

// parseV6Item takes a RecordStreamItem's transaction and record bytes as
// they are. Were either field repeated, protobuf would merge the two
// messages; no node writes that, and hashing a merge is not defined, so it
// is refused.
func parseV6Item(b []byte) (Item, error) {
	var it Item
	seenTx, seenRec := false, false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return it, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == itemTx || num == itemRecord) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return it, protowire.ParseError(n)
			}
			b = b[n:]
			v = v[:len(v):len(v)]
			if num == itemTx {
				if seenTx {
					return it, fmt.Errorf("transaction given twice")
				}
				it.Transaction, seenTx = v, true
			} else {
				if seenRec {
					return it, fmt.Errorf("record given twice")
				}
				it.Record, seenRec = v, true
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return it, protowire.ParseError(n)
		}
		b = b[n:]
	}
	if !seenRec {
		return it, fmt.Errorf("item without a record")
	}
	var err error
	it.ConsensusNs, err = consensusNs(it.Record)
	return it, err
}

// maxSeconds is the last whole second an int64 of nanoseconds can hold.
const maxSeconds = (1<<63-1)/1_000_000_000 - 1

// consensusNs reads TransactionRecord.consensusTimestamp straight from the
// record's bytes, without decoding the rest of the record.
func consensusNs(record []byte) (int64, error) {
	var secs, nanos uint64
	found := false
	for len(record) > 0 {
		num, typ, n := protowire.ConsumeTag(record)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		record = record[n:]
		if num == recConsensus && typ == protowire.BytesType {
			ts, n := protowire.ConsumeBytes(record)
			if n < 0 {
				return 0, protowire.ParseError(n)
			}
			record = record[n:]
			found = true
			for len(ts) > 0 {
				num, typ, n := protowire.ConsumeTag(ts)
				if n < 0 {
					return 0, protowire.ParseError(n)
				}
				ts = ts[n:]
				if typ == protowire.VarintType && (num == tsSeconds || num == tsNanos) {
					v, n := protowire.ConsumeVarint(ts)
					if n < 0 {
						return 0, protowire.ParseError(n)
					}
					ts = ts[n:]
					if num == tsSeconds {
						secs = v
					} else {
						nanos = v
					}
					continue
				}
				n = protowire.ConsumeFieldValue(num, typ, ts)
				if n < 0 {
					return 0, protowire.ParseError(n)
				}
				ts = ts[n:]
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, record)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		record = record[n:]
	}
	if !found {
		return 0, fmt.Errorf("no consensus timestamp")
	}
	// Seconds beyond year 2262 or nanos outside a second do not fit an
	// int64 of nanoseconds; no record carries them.
	s, ns := int64(secs), int64(int32(nanos))
	if s < 0 || s > maxSeconds || ns < 0 || ns >= 1e9 {
		return 0, fmt.Errorf("consensus timestamp %d.%09d out of range", s, ns)
	}
	return s*1e9 + ns, nil
}

package blockstream

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// WrappedRecordFile is the record file a wrapped record block carries,
// rebuilt in the layout its node wrote (v2, v5 or v6) and read back by
// recordstream: its file hash is what the node signatures sign.
type WrappedRecordFile struct {
	// File is the rebuilt file as recordstream reads it: items, file hash,
	// running hashes (recomputed and checked), consensus range.
	File *recordstream.RecordFile
	// Bytes is the rebuilt file (not gzipped).
	Bytes []byte
	// CreationTime is the time in the record file's name.
	CreationTime time.Time
	// Signatures are the node signatures of the block's first proof.
	Signatures []recordstream.NodeSignature
	// Sidecars holds the serialized SidecarFile of each sidecar the block
	// carries, by the record file's sidecar id; each was checked against
	// the hash the record file lists for it.
	Sidecars map[int32][]byte
	// MissingSidecars are ids the record file lists whose contents the
	// block does not carry (the mirror node reads such blocks and logs the
	// loss; contract sidecar data is then missing).
	MissingSidecars []int32
	// Amendments are items added to the record file after the fact: not
	// part of its hash, kept apart.
	Amendments []recordstream.Item
}

// RecordFileName is the record file name for a creation time, as the
// network names record files: the time as Java's Instant prints it (the
// fraction in 3, 6 or 9 digits, none when zero) with ":" replaced by "_",
// then ".rcd".
func RecordFileName(t time.Time) string {
	t = t.UTC()
	ns := t.Nanosecond()
	var frac string
	switch {
	case ns == 0:
	case ns%1_000_000 == 0:
		frac = fmt.Sprintf(".%03d", ns/1_000_000)
	case ns%1_000 == 0:
		frac = fmt.Sprintf(".%06d", ns/1_000)
	default:
		frac = fmt.Sprintf(".%09d", ns)
	}
	return strings.ReplaceAll(t.Format("2006-01-02T15:04:05"), ":", "_") + frac + "Z.rcd"
}

// RebuildRecordFile rebuilds a wrapped record block's record file from
// its RecordFileItem and reads it back, checking what the block can tell
// about itself: the version the proof names, the running hashes, the
// sidecars' hashes, and that the header's number, version and timestamp
// are the record file's. It does not check the signatures (VerifyWrapped
// does). The layouts (consensus node record_file_item.proto; the mirror
// node's RecordFileItemReaderV2/V5/V6):
//   - v2: int32 2, int32 HAPI minor version, 0x01, the start running hash
//     (the previous file's hash), then per item 0x02, length and
//     Transaction, length and TransactionRecord;
//   - v5: the v5 object stream of the items between the start and end
//     running hashes;
//   - v6: int32 6 and the RecordStreamFile exactly as the block carries it.
func RebuildRecordFile(b *Block) (*WrappedRecordFile, error) {
	fail := func(reason error, format string, args ...any) error {
		return blockErr(b.Name, int64(b.Header.Number), reason, format, args...)
	}
	if !b.Wrapped {
		return nil, fail(ErrProof, "not a wrapped record block")
	}
	var item []byte
	for i := range b.Items {
		if b.Items[i].Kind == KindRecordFile {
			item = b.Items[i].Payload
		}
	}
	proof, err := firstProof(b)
	if err != nil {
		return nil, err
	}
	srf := proof.GetSignedRecordFileProof()
	if srf == nil {
		return nil, fail(ErrProof, "a wrapped record block's first proof is not a signed record file proof")
	}
	w := &WrappedRecordFile{Sidecars: map[int32][]byte{}}
	for _, s := range srf.GetRecordFileSignatures() {
		w.Signatures = append(w.Signatures, recordstream.NodeSignature{NodeID: int64(s.GetNodeId()), Signature: s.GetSignaturesBytes()})
	}

	// The record file item, walked so that its parts keep their bytes.
	var created, contents []byte
	var sidecars, amendments [][]byte
	var haveCreated, haveContents bool
	err = eachField(item, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num > 4 {
			return nil
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("field %d has wire type %d", num, typ)
		}
		switch num {
		case 1:
			created, haveCreated = v, true
		case 2:
			contents, haveContents = v, true
		case 3:
			sidecars = append(sidecars, v)
		case 4:
			amendments = append(amendments, v)
		}
		return nil
	})
	if err != nil {
		return nil, fail(ErrMalformed, "record_file: %v", err)
	}
	if !haveCreated || !haveContents {
		return nil, fail(ErrMalformed, "record_file without its creation time or contents")
	}
	createdNs, err := decodeTimestamp(created)
	if err != nil {
		return nil, fail(ErrMalformed, "record_file creation_time: %v", err)
	}
	w.CreationTime = time.Unix(0, createdNs).UTC()
	var rsf hederapb.RecordStreamFile
	if err := proto.Unmarshal(contents, &rsf); err != nil {
		return nil, fail(ErrMalformed, "record_file contents: %v", err)
	}
	items := make([]recordstream.Item, len(rsf.GetRecordStreamItems()))
	for i, it := range rsf.GetRecordStreamItems() {
		items[i] = recordstream.Item{Transaction: it.GetTransaction(), Record: it.GetRecord()}
	}
	v := rsf.GetHapiProtoVersion()
	hapi := recordstream.HAPIVersion{Major: v.GetMajor(), Minor: v.GetMinor(), Patch: v.GetPatch()}
	start := rsf.GetStartObjectRunningHash().GetHash()
	end := rsf.GetEndObjectRunningHash().GetHash()

	switch srf.GetVersion() {
	case 2:
		if w.Bytes, err = recordstream.EncodeV2(start, items); err == nil {
			// The header int is the HAPI minor version (3 in every v2
			// file); the mirror node writes it so, and the hash of mainnet
			// block 0 agrees.
			binary.BigEndian.PutUint32(w.Bytes[4:], uint32(hapi.Minor))
		}
	case 5:
		w.Bytes, err = recordstream.EncodeV5(hapi, start, items)
	case 6:
		w.Bytes = append(append(make([]byte, 0, 4+len(contents)), 0, 0, 0, 6), contents...)
	default:
		return nil, fail(ErrUnsupported, "signed record file proof for record file version %d (want 2, 5 or 6)", srf.GetVersion())
	}
	if err != nil {
		return nil, fail(ErrMalformed, "rebuild v%d record file: %v", srf.GetVersion(), err)
	}
	name := RecordFileName(w.CreationTime)
	if w.File, err = recordstream.Parse(name, w.Bytes); err != nil {
		reason := ErrMalformed
		switch {
		case errors.Is(err, recordstream.ErrHashMismatch):
			reason = ErrHashMismatch
		case errors.Is(err, recordstream.ErrTruncated):
			reason = ErrTruncated
		}
		return nil, &Error{Name: b.Name, Number: int64(b.Header.Number), Item: -1, Offset: -1, What: "rebuilt record file: " + err.Error(), Reason: reason, Cause: err}
	}
	f := w.File
	if f.Version >= 5 && !bytes.Equal(end, f.EndRunningHash) {
		return nil, fail(ErrHashMismatch, "record file %s: end running hash %x, recomputed from its items %x", name, end, f.EndRunningHash)
	}

	// The header describes the record file.
	wantHAPI := Version{Major: hapi.Major, Minor: hapi.Minor, Patch: hapi.Patch}
	if f.Version == 2 {
		wantHAPI = Version{Minor: f.LegacyHAPI}
	}
	got := b.Header.HAPI
	if got.Major != wantHAPI.Major || got.Minor != wantHAPI.Minor || got.Patch != wantHAPI.Patch {
		return nil, fail(ErrMalformed, "header HAPI %s, the record file's %d.%d.%d", got, wantHAPI.Major, wantHAPI.Minor, wantHAPI.Patch)
	}
	if b.Header.TimestampNs != f.ConsensusStart {
		return nil, fail(ErrMalformed, "header timestamp %d, the record file's first consensus time %d", b.Header.TimestampNs, f.ConsensusStart)
	}
	if f.BlockNumber != 0 && uint64(f.BlockNumber) != b.Header.Number {
		return nil, fail(ErrMalformed, "header number %d, the record file's block number %d", b.Header.Number, f.BlockNumber)
	}

	for _, meta := range f.Sidecars {
		if meta.ID < 1 || int(meta.ID) > len(sidecars) {
			w.MissingSidecars = append(w.MissingSidecars, meta.ID)
			continue
		}
		raw := sidecars[meta.ID-1]
		if sum := sha512.Sum384(raw); !bytes.Equal(sum[:], meta.Hash) {
			return nil, fail(ErrHashMismatch, "sidecar %d: SHA-384 %x, the record file lists %x", meta.ID, sum, meta.Hash)
		}
		w.Sidecars[meta.ID] = raw
	}
	for i, raw := range amendments {
		var it hederapb.RecordStreamItem
		if err := proto.Unmarshal(raw, &it); err != nil {
			return nil, fail(ErrMalformed, "amendment %d: %v", i, err)
		}
		w.Amendments = append(w.Amendments, recordstream.Item{Transaction: it.GetTransaction(), Record: it.GetRecord()})
	}
	return w, nil
}

// firstProof decodes the block's first proof item, the one verified (as
// the mirror node does; a later one, such as a TSS proof appended to a
// wrapped record block, is not read).
func firstProof(b *Block) (*hederapb.BlockProof, error) {
	proofs := b.Proofs()
	var p hederapb.BlockProof
	if err := proto.Unmarshal(proofs[0].Payload, &p); err != nil {
		return nil, &Error{Name: b.Name, Number: int64(b.Header.Number), Item: len(b.Items) - len(proofs), Offset: -1, What: "block_proof: " + err.Error(), Reason: ErrMalformed}
	}
	if p.GetBlock() != b.Header.Number {
		return nil, blockErr(b.Name, int64(b.Header.Number), ErrProof, "the proof is for block %d", p.GetBlock())
	}
	return &p, nil
}

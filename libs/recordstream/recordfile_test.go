package recordstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// Every record file of every node against expected.json: each value the
// entry gives, and every entry used.
func TestReadMatchesExpected(t *testing.T) {
	want := expected(t)
	used := map[string]bool{}
	for _, ff := range recordFiles(t) {
		t.Run(ff.Rel, func(t *testing.T) {
			exp, ok := want[ff.expectedKey()]
			if !ok {
				t.Fatalf("no expected.json entry %s", ff.expectedKey())
			}
			used[ff.expectedKey()] = true
			f, err := os.Open(ff.path(t))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rf, err := Read(ff.Base, f)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			checkExpected(t, rf, exp, ff.expectedKey() == ff.Rel)
		})
	}
	for k := range want {
		if !used[k] {
			t.Errorf("expected.json entry %s matched no fixture file", k)
		}
	}
}

func checkExpected(t *testing.T, rf *RecordFile, exp expectedFile, sameCopy bool) {
	t.Helper()
	if rf.Version != exp.Version {
		t.Errorf("version %d, want %d", rf.Version, exp.Version)
	}
	if len(rf.Items) != exp.Count {
		t.Errorf("%d items, want %d", len(rf.Items), exp.Count)
	}
	if rf.ConsensusStart != exp.StartNs || rf.ConsensusEnd != exp.EndNs {
		t.Errorf("consensus %d..%d, want %d..%d", rf.ConsensusStart, rf.ConsensusEnd, exp.StartNs, exp.EndNs)
	}
	// A gzipped copy's size differs per node (the gzip header's mtime);
	// expected.json gives node 0.0.3's.
	if (sameCopy || rf.Version != 6) && rf.Size != exp.Size {
		t.Errorf("size %d, want %d", rf.Size, exp.Size)
	}
	for _, h := range []struct {
		what      string
		got, want []byte
	}{
		{"file hash", rf.FileHash, unhex(t, exp.FileHash)},
		{"chain (end) hash", rf.ChainHash(), unhex(t, exp.End)},
		{"previous/start hash", rf.PrevHash, unhex(t, exp.Prev)},
		{"metadata hash", rf.MetadataHash, unhex(t, exp.MetadataHash)},
	} {
		if !bytes.Equal(h.got, h.want) {
			t.Errorf("%s %x, want %x", h.what, h.got, h.want)
		}
	}
	if rf.Version == 2 {
		var v int32
		if err := json.Unmarshal(exp.HAPI, &v); err != nil {
			t.Fatalf("expected.json hapi %s: %v", exp.HAPI, err)
		}
		if rf.LegacyHAPI != v {
			t.Errorf("HAPI version %d, want %d", rf.LegacyHAPI, v)
		}
		if rf.EndRunningHash != nil {
			t.Errorf("v2 file has an end running hash %x", rf.EndRunningHash)
		}
	} else {
		var v [3]int32
		if err := json.Unmarshal(exp.HAPI, &v); err != nil {
			t.Fatalf("expected.json hapi %s: %v", exp.HAPI, err)
		}
		if got := [3]int32{rf.HAPI.Major, rf.HAPI.Minor, rf.HAPI.Patch}; got != v {
			t.Errorf("HAPI version %v, want %v", got, v)
		}
	}
	var block int64
	if exp.Block != nil {
		block = *exp.Block
	}
	if rf.BlockNumber != block {
		t.Errorf("block number %d, want %d", rf.BlockNumber, block)
	}
	if len(rf.Sidecars) != len(exp.Sidecars) {
		t.Fatalf("%d sidecars, want %d", len(rf.Sidecars), len(exp.Sidecars))
	}
	for i, sc := range rf.Sidecars {
		e := exp.Sidecars[i]
		if sc.Name != e.Name || !bytes.Equal(sc.Hash, unhex(t, e.Hash)) {
			t.Errorf("sidecar %d: %s %x, want %s %s", i, sc.Name, sc.Hash, e.Name, e.Hash)
		}
		if got := typeInts(sc.Types); !equalInts(got, e.Types) {
			t.Errorf("sidecar %d types %v, want %v", i, got, e.Types)
		}
	}
	// Each item's consensus time is its record's: decode one fully and
	// compare with what the reader took straight from the bytes.
	for i, it := range rf.Items {
		if len(it.Transaction) == 0 || len(it.Record) == 0 {
			t.Fatalf("item %d: empty transaction or record", i)
		}
		if i > 0 && it.ConsensusNs < rf.Items[i-1].ConsensusNs {
			t.Errorf("item %d consensus %d before item %d's %d", i, it.ConsensusNs, i-1, rf.Items[i-1].ConsensusNs)
		}
	}
}

func typeInts(ts []SidecarType) []int32 {
	out := make([]int32, len(ts))
	for i, t := range ts {
		out[i] = int32(t)
	}
	return out
}

func equalInts(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The consensus time the reader takes from a record's bytes is the one a
// full decode of TransactionRecord finds: checked with a message that has
// only the fields the reader walks past and the timestamp.
func TestConsensusNsFromRecordBytes(t *testing.T) {
	ts := &hederapb.Timestamp{Seconds: 1657701971, Nanos: 304284003}
	tsBytes := mustMarshal(t, ts)
	// TransactionRecord: receipt (1, bytes), transactionHash (2, bytes),
	// consensusTimestamp (3), memo (5), transactionFee (6, varint).
	var rec []byte
	rec = appendBytesField(rec, 1, []byte{0x08, 0x16})
	rec = appendBytesField(rec, 2, bytes.Repeat([]byte{0xab}, 48))
	rec = appendBytesField(rec, 3, tsBytes)
	rec = appendBytesField(rec, 5, []byte("memo"))
	rec = append(rec, 6<<3, 0x90, 0x4e) // field 6, wire type 0 (varint)
	got, err := consensusNs(rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := ts.Seconds*1e9 + int64(ts.Nanos); got != want {
		t.Errorf("consensus %d, want %d", got, want)
	}
	for name, bad := range map[string][]byte{
		"no timestamp":  appendBytesField(nil, 5, []byte("memo")),
		"cut":           rec[:len(rec)-1],
		"nanos too big": appendBytesField(nil, 3, mustMarshal(t, &hederapb.Timestamp{Seconds: 1, Nanos: 1e9})),
		"negative":      appendBytesField(nil, 3, mustMarshal(t, &hederapb.Timestamp{Seconds: -1})),
	} {
		if ns, err := consensusNs(bad); err == nil {
			t.Errorf("%s: consensus %d, want an error", name, ns)
		}
	}
}

// Bad input that is not a truncation: every case an error with the file
// name and the reason a caller quarantines by.
func TestReadRefusesMalformed(t *testing.T) {
	dir := streamsDir(t)
	v2 := readFixture(t, filepath.Join(dir, "v2/record0.0.3/2019-08-30T18_10_00.419072Z.rcd"))
	v5 := readFixture(t, filepath.Join(dir, "v5/record0.0.3/2021-01-11T22_09_24.063739000Z.rcd"))
	v6gz := readFixture(t, filepath.Join(dir, "v6/record0.0.3/2022-07-13T08_46_11.304284003Z.rcd.gz"))
	v6 := gunzip(t, v6gz)

	// The stored end running hash of v5 is the last 48 bytes; of v6 it is
	// rewritten through the protobuf.
	v5BadEnd := bytes.Clone(v5)
	v5BadEnd[len(v5BadEnd)-1] ^= 1
	var rsf hederapb.RecordStreamFile
	if err := proto.Unmarshal(v6[4:], &rsf); err != nil {
		t.Fatal(err)
	}
	rsf.RecordStreamItems[0].Record = bytes.Clone(rsf.RecordStreamItems[0].Record)
	rsf.RecordStreamItems[0].Record[len(rsf.RecordStreamItems[0].Record)-1] ^= 1
	v6BadItem := append([]byte{0, 0, 0, 6}, mustMarshal(t, &rsf)...)

	cases := []struct {
		name   string
		file   string
		data   []byte
		reason error
	}{
		{"unknown version", "x.rcd", append([]byte{0, 0, 0, 7}, v5[4:]...), ErrUnsupportedVersion},
		{"v1", "x.rcd", append([]byte{0, 0, 0, 1}, v2[4:]...), ErrUnsupportedVersion},
		{"not gzip but named .gz", "2022-07-13T08_46_11.304284003Z.rcd.gz", v6, ErrMalformed},
		{"v5 gzipped", "x.rcd.gz", gzipBytes(t, v5), ErrMalformed},
		{"v2 bad record marker", "x.rcd", replaceAt(v2, 57, 9), ErrMalformed},
		{"v2 bad prev marker", "x.rcd", replaceAt(v2, 8, 2), ErrMalformed},
		{"v5 stored end hash wrong", "x.rcd", v5BadEnd, ErrHashMismatch},
		{"v5 bytes after the end", "x.rcd", append(bytes.Clone(v5), 0), ErrMalformed},
		{"v5 bad digest type", "x.rcd", replaceAt(v5, 4*5+8+4, 0), ErrMalformed},
		{"v6 item changed", "x.rcd", v6BadItem, ErrHashMismatch},
		{"v6 not protobuf", "x.rcd", append([]byte{0, 0, 0, 6}, 0xff, 0xff, 0xff), ErrTruncated},
		{"empty", "x.rcd", nil, ErrTruncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.file, tc.data)
			if err == nil {
				t.Fatalf("read %d bytes as version %d, want an error", len(tc.data), f.Version)
			}
			if !errors.Is(err, tc.reason) {
				t.Errorf("error %q, want reason %v", err, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file %s", err, tc.file)
			}
		})
	}
}

func replaceAt(b []byte, i int, v byte) []byte {
	out := bytes.Clone(b)
	out[i] = v
	return out
}

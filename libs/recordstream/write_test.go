package recordstream

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/hederapb"
)

// Re-encoding a real file's items gives back the node's bytes, and
// re-encoding its signature the node's signature file: the encoders write
// what nodes write.
func TestEncodeReproducesFixtures(t *testing.T) {
	for _, p := range pairs(t) {
		if p.ff.Node != "0.0.3" {
			continue
		}
		t.Run(p.ff.Rel, func(t *testing.T) {
			rf, err := Parse(p.ff.Base, p.record)
			if err != nil {
				t.Fatal(err)
			}
			want := p.record
			var got []byte
			switch rf.Version {
			case 2:
				got, err = EncodeV2(rf.PrevHash, rf.Items)
			case 5:
				got, err = EncodeV5(rf.HAPI, rf.PrevHash, rf.Items)
			case 6:
				want = gunzip(t, p.record)
				got, err = EncodeV6(rf.HAPI, rf.PrevHash, rf.BlockNumber, rf.Items, rf.Sidecars)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("re-encoded %d bytes differ from the node's %d", len(got), len(want))
			}
			sig, err := ParseSignature("sig", p.sig)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := sig.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, p.sig) {
				t.Errorf("re-encoded signature file (%d bytes) differs from the node's (%d)", len(enc), len(p.sig))
			}
		})
	}
}

// testRecord is a TransactionRecord holding a consensus time and a memo, the
// least a generated item needs.
func testRecord(ns int64, memo string) []byte {
	ts := protowire.AppendTag(nil, 1, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(ns/1e9))
	ts = protowire.AppendTag(ts, 2, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(ns%1e9))
	rec := appendBytesField(nil, 3, ts)
	return appendBytesField(rec, 5, []byte(memo))
}

func testItems(startNs int64, n int) []Item {
	items := make([]Item, n)
	for i := range items {
		ns := startNs + int64(i)
		items[i] = Item{
			Transaction: appendBytesField(nil, 5, []byte(fmt.Sprintf("transaction %d", ns))),
			Record:      testRecord(ns, fmt.Sprintf("record %d", ns)),
			ConsensusNs: ns,
		}
	}
	return items
}

// A generated stream that changes version twice (v2 → v5 → v6 → v6), signed
// with a generated key: every file reads back with its items, verifies,
// and chains; a file encoded from the wrong start does not.
func TestGeneratedStreamVerifiesAndChains(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hapi := HAPIVersion{0, 28, 0}
	start := int64(1657701971_000000000)
	var files []*RecordFile
	next := func(version int, name string, items []Item) *RecordFile {
		t.Helper()
		prev := make([]byte, HashSize)
		if len(files) > 0 {
			prev = files[len(files)-1].ChainHash()
		}
		var data []byte
		switch version {
		case 2:
			data, err = EncodeV2(prev, items)
		case 5:
			data, err = EncodeV5(hapi, prev, items)
		case 6:
			data, err = EncodeV6(hapi, prev, int64(len(files)), items, nil)
			data = gzipBytes(t, data)
		}
		if err != nil {
			t.Fatal(err)
		}
		rf, err := Parse(name, data)
		if err != nil {
			t.Fatalf("read back %s: %v", name, err)
		}
		if len(rf.Items) != len(items) || rf.ConsensusStart != items[0].ConsensusNs || rf.ConsensusEnd != items[len(items)-1].ConsensusNs {
			t.Fatalf("%s: %d items %d..%d, wrote %d", name, len(rf.Items), rf.ConsensusStart, rf.ConsensusEnd, len(items))
		}
		for i := range items {
			if !bytes.Equal(rf.Items[i].Record, items[i].Record) || !bytes.Equal(rf.Items[i].Transaction, items[i].Transaction) {
				t.Fatalf("%s: item %d read back differs", name, i)
			}
		}
		sig, err := Sign(key, rf)
		if err != nil {
			t.Fatal(err)
		}
		sigBytes, err := sig.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSignature(strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".rcd")+".rcd_sig", sigBytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := back.Verify(&key.PublicKey); err != nil {
			t.Error(err)
		}
		if err := rf.Matches(back); err != nil {
			t.Error(err)
		}
		if len(files) > 0 {
			if err := Follows(files[len(files)-1], rf); err != nil {
				t.Error(err)
			}
		}
		files = append(files, rf)
		return rf
	}
	next(2, "2022-07-13T08_46_11.000000Z.rcd", testItems(start, 3))
	next(5, "2022-07-13T08_46_13.000000000Z.rcd", testItems(start+2e9, 4))
	next(6, "2022-07-13T08_46_15.000000000Z.rcd.gz", testItems(start+4e9, 1000))
	last := next(6, "2022-07-13T08_46_17.000000000Z.rcd.gz", testItems(start+6e9, 2))
	if last.BlockNumber != 3 {
		t.Errorf("block number %d, want 3", last.BlockNumber)
	}

	// The same items from a start that is not the previous end.
	wrong := bytes.Repeat([]byte{7}, HashSize)
	data, err := EncodeV6(hapi, wrong, 4, testItems(start+8e9, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	stray, err := Parse("stray.rcd", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := Follows(last, stray); err == nil {
		t.Error("a file from another start chains")
	}
}

// A generated v6 file with a sidecar: the sidecar written with its
// record kinds checks against the record file's list.
func TestGeneratedSidecar(t *testing.T) {
	ns := int64(1657701971_304284003)
	sf := &hederapb.SidecarFile{SidecarRecords: []*hederapb.TransactionSidecarRecord{{
		ConsensusTimestamp: &hederapb.Timestamp{Seconds: ns / 1e9, Nanos: int32(ns % 1e9)},
		SidecarRecords:     &hederapb.TransactionSidecarRecord_Bytecode{Bytecode: &hederapb.ContractBytecode{RuntimeBytecode: []byte{0x60, 0x80}}},
	}}}
	scBytes := gzipBytes(t, mustMarshal(t, sf))
	sc, err := ParseSidecar("x_01.rcd.gz", scBytes)
	if err != nil {
		t.Fatal(err)
	}
	meta := SidecarMeta{ID: 1, Hash: sc.Hash, Types: sc.Types()}
	data, err := EncodeV6(HAPIVersion{0, 28, 0}, make([]byte, HashSize), 9, []Item{{Transaction: []byte{0x2a, 0}, Record: testRecord(ns, "")}}, []SidecarMeta{meta})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base("2022-07-13T08_46_11.304284003Z.rcd")
	rf, err := Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.Sidecars) != 1 || rf.Sidecars[0].Name != "2022-07-13T08_46_11.304284003Z_01.rcd.gz" {
		t.Fatalf("sidecars %+v", rf.Sidecars)
	}
	if err := rf.Sidecars[0].Check(sc); err != nil {
		t.Error(err)
	}
	if got := typeInts(rf.Sidecars[0].Types); !equalInts(got, []int32{int32(hederapb.SidecarType_CONTRACT_BYTECODE)}) {
		t.Errorf("types %v", got)
	}
}

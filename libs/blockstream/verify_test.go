package blockstream

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// loadBook reads one of the fixtures' address books: a NodeAddressBook
// file, or the block node's address-book.json ({nodeAddress: [{RSAPubKey,
// nodeId}]}, the id left out for node 0).
func loadBook(t *testing.T, root, name string) *recordstream.AddressBook {
	t.Helper()
	path := filepath.Join(root, name)
	if !strings.HasSuffix(name, ".json") {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, err := recordstream.ReadAddressBook(name, f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		NodeAddress []struct {
			RSAPubKey string `json:"RSAPubKey"`
			NodeID    string `json:"nodeId"`
		} `json:"nodeAddress"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var nodes []recordstream.Node
	for _, n := range doc.NodeAddress {
		id := int64(0)
		if n.NodeID != "" {
			if id, err = strconv.ParseInt(n.NodeID, 10, 64); err != nil {
				t.Fatal(err)
			}
		}
		der, err := hex.DecodeString(n.RSAPubKey)
		if err != nil {
			t.Fatal(err)
		}
		key, err := recordstream.ParsePublicKeyPEM([]byte("-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, recordstream.Node{Account: fmt.Sprintf("0.0.%d", id+3), NodeID: id, Key: key})
	}
	b, err := recordstream.NewAddressBook(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every wrapped record block rebuilds to the record file the mirror node
// publishes (name, version, file hash, running hashes, size, count,
// consensus range, HAPI version, sidecars), and its node signatures verify
// with exactly the nodes whose keys each address book holds.
func TestWrappedRecordBlocks(t *testing.T) {
	root, doc := loadExpected(t)
	n := 0
	for _, name := range sortedNames(doc) {
		want := doc.Files[name]
		if want.RecordFile == nil {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			wr := want.RecordFile
			b, err := readFixtureBlock(t, root, name)
			if err != nil {
				t.Fatal(err)
			}
			w, err := RebuildRecordFile(b)
			if err != nil {
				t.Fatal(err)
			}
			f := w.File
			if f.Name != wr.Name || f.Version != wr.Version || w.CreationTime.UnixNano() != wr.CreationTimeNs {
				t.Errorf("%s v%d created %d, want %s v%d %d", f.Name, f.Version, w.CreationTime.UnixNano(), wr.Name, wr.Version, wr.CreationTimeNs)
			}
			if hexOf(f.FileHash) != wr.FileHash || hexOf(f.ChainHash()) != wr.Hash || hexOf(f.PrevHash) != wr.PreviousHash {
				t.Errorf("file hash %x, hash %x, previous %x; want %s, %s, %s", f.FileHash, f.ChainHash(), f.PrevHash, wr.FileHash, wr.Hash, wr.PreviousHash)
			}
			if int64(len(w.Bytes)) != wr.Size || len(f.Items) != wr.Count || f.ConsensusStart != wr.ConsensusStart || f.ConsensusEnd != wr.ConsensusEnd {
				t.Errorf("size %d, %d items, %d–%d; want %d, %d, %d–%d", len(w.Bytes), len(f.Items), f.ConsensusStart, f.ConsensusEnd, wr.Size, wr.Count, wr.ConsensusStart, wr.ConsensusEnd)
			}
			hapi := f.HAPI.String()
			if f.Version == 2 {
				hapi = fmt.Sprintf("0.%d.0", f.LegacyHAPI)
			}
			if hapi != wr.HAPI {
				t.Errorf("HAPI %s, want %s", hapi, wr.HAPI)
			}
			if len(w.Amendments) != wr.Amendments || len(w.MissingSidecars) != 0 || len(w.Sidecars) != len(wr.Sidecars) {
				t.Errorf("%d amendments, %d sidecars, missing %v; want %d, %d", len(w.Amendments), len(w.Sidecars), w.MissingSidecars, wr.Amendments, len(wr.Sidecars))
			}
			for _, sc := range wr.Sidecars {
				raw := w.Sidecars[sc.ID]
				s, err := recordstream.ParseSidecar(fmt.Sprintf("sidecar %d", sc.ID), raw)
				if err != nil || int64(len(raw)) != sc.Size || len(s.Records) != sc.Records || !slices.Equal(int32s(s.Types()), sc.Types) {
					t.Errorf("sidecar %d: %d bytes, %v; want %d bytes, %d records, types %v", sc.ID, len(raw), err, sc.Size, sc.Records, sc.Types)
				}
				var meta []byte
				for _, m := range f.Sidecars {
					if m.ID == sc.ID {
						meta = m.Hash
					}
				}
				if hexOf(meta) != sc.Hash {
					t.Errorf("sidecar %d hash %x, want %s", sc.ID, meta, sc.Hash)
				}
			}
			var ids []int64
			for _, s := range w.Signatures {
				ids = append(ids, s.NodeID)
			}
			if !slices.Equal(ids, want.Proof.SignatureNodes) {
				t.Errorf("signatures by %v, want %v", ids, want.Proof.SignatureNodes)
			}
			checkedBooks := 0
			for bookName, signers := range wr.RSAByBook {
				if strings.HasPrefix(bookName, "(not copied)") {
					continue
				}
				checkedBooks++
				book := loadBook(t, root, bookName)
				v := &ProofVerifier{Books: recordstream.NewBookHistory(book, bookName)}
				h, a, err := b.RootHash()
				if err != nil {
					t.Fatal(err)
				}
				verdict, err := v.Verify(b, h, a)
				got := slices.Sorted(slices.Values(verdict.Signers))
				if !slices.Equal(got, slices.Sorted(slices.Values(signers))) {
					t.Errorf("%s: signers %v, want %v", bookName, got, signers)
				}
				if verdict.Weighing.Reached() {
					if err != nil || verdict.Level != LevelRSASigned || verdict.Proof != ProofRecordFile {
						t.Errorf("%s: %s reached, yet %v %v", bookName, verdict.Weighing, verdict.Level, err)
					}
				} else if !errors.Is(err, ErrProof) || !errors.Is(err, recordstream.ErrNoConsensus) || verdict.Level != LevelRootHash {
					t.Errorf("%s: %s not reached, yet %v %v", bookName, verdict.Weighing, verdict.Level, err)
				}
			}
			if checkedBooks == 0 {
				t.Fatal("no address book in the repository for this block")
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d wrapped record blocks", n)
	}
}

func int32s(ts []recordstream.SidecarType) []int32 {
	out := make([]int32, len(ts))
	for i, t := range ts {
		out[i] = int32(t)
	}
	return out
}

// Signatures are over the exact record file: a record changed inside the
// wrapped block rebuilds to another hash that no node signed; a signature
// by a node the book does not have counts for nothing.
func TestWrappedRecordBlockTamperedRefused(t *testing.T) {
	root, _ := loadExpected(t)
	name := "hiero-block-node/test-blocks/WRB/SOLO_4N/1.blk.gz"
	book := loadBook(t, root, "hiero-block-node/test-blocks/WRB/SOLO_4N/address-book.json")
	v := &ProofVerifier{Books: recordstream.NewBookHistory(book, "solo")}
	plain := plainFixture(t, root, name)
	b, h := parseHashed(t, name, plain)
	if verdict, err := v.Verify(b, h, SixteenLeaf); err != nil || verdict.Level != LevelRSASigned {
		t.Fatalf("untouched: %v %v", verdict.Level, err)
	}
	w, err := RebuildRecordFile(b)
	if err != nil {
		t.Fatal(err)
	}
	// The last byte of the last item's transaction (inside its signature
	// bytes) changes: the file still reads, its hash does not verify.
	tx := w.File.Items[len(w.File.Items)-1].Transaction
	at := bytes.Index(plain, tx)
	if at < 0 {
		t.Fatal("the last transaction's bytes are not in the block")
	}
	plain[at+len(tx)-1] ^= 0x01
	b2, h2 := parseHashed(t, name, plain)
	if h2 == h {
		t.Fatal("a changed record left the root hash as it was")
	}
	verdict, err := v.Verify(b2, h2, SixteenLeaf)
	if !errors.Is(err, ErrHashMismatch) || !errors.Is(err, recordstream.ErrHashMismatch) || verdict.Level != LevelRootHash {
		t.Fatalf("tampered record: %v %v", verdict.Level, err)
	}
	var be *Error
	if !errors.As(err, &be) || be.Number != 1 || be.Name != name {
		t.Errorf("the error does not name block 1: %v", err)
	}
	plain[at+len(tx)-1] ^= 0x01

	// Two of the three signatures changed: one node's signature is left,
	// short of a third of the four nodes.
	b3, h3 := parseHashed(t, name, plain)
	if h3 != h {
		t.Fatal("the block did not come back")
	}
	p, err := firstProof(b3)
	if err != nil {
		t.Fatal(err)
	}
	sigs := p.GetSignedRecordFileProof().GetRecordFileSignatures()
	for _, s := range sigs[:2] {
		at := bytes.Index(plain, s.GetSignaturesBytes())
		plain[at+100] ^= 0x01
	}
	b3, h3 = parseHashed(t, name, plain)
	if h3 != h {
		t.Fatal("the proof is not hashed, yet the root changed")
	}
	verdict, err = v.Verify(b3, h3, SixteenLeaf)
	if !errors.Is(err, ErrProof) || !errors.Is(err, recordstream.ErrNoConsensus) || verdict.Level != LevelRootHash ||
		!slices.Equal(verdict.Signers, []int64{int64(sigs[2].GetNodeId())}) || !strings.Contains(err.Error(), "block 1") {
		t.Fatalf("two forged signatures: %v %v signers %v", verdict.Level, err, verdict.Signers)
	}

	// No book, no verification.
	if _, err := (&ProofVerifier{}).Verify(b, h, SixteenLeaf); !errors.Is(err, ErrProof) {
		t.Errorf("no book: %v", err)
	}
}

// TSS blocks: the ledger id comes from block 0's publication; with it
// every TSS signature of the right size is reported as structure-checked
// (never as verified), state proofs walk to the root of the block that
// signs them, the 48-byte placeholder of a TSS-off network is taken only
// when allowed, and without a ledger id the level says nothing ties the
// block to a network.
func TestTSSBlocks(t *testing.T) {
	root, doc := loadExpected(t)
	ledgers := map[string]*Ledger{}
	for _, set := range []string{"CN_0_73_TSS_WRAPS_LEGACY", "CN_11_12_TSS_SCHNORR", "CN_11_12_TSS_WRAPS"} {
		name := "hiero-block-node/test-blocks/" + set + "/0.blk.gz"
		want := doc.Files[name].Ledger
		b, err := readFixtureBlock(t, root, name)
		if err != nil {
			t.Fatal(err)
		}
		l, ok, err := LedgerFromBlock(b)
		if err != nil || !ok {
			t.Fatalf("%s: ledger %v %v", name, ok, err)
		}
		if want == nil || hexOf(l.ID) != want.LedgerID {
			t.Fatalf("%s: ledger id %x, want %+v", name, l.ID, want)
		}
		if set == "CN_11_12_TSS_WRAPS" {
			if len(l.HistoryProofVerificationKey) != want.VerifyKeyLen || len(l.Nodes) != len(want.Contributions) {
				t.Errorf("WRAPS key %d bytes, %d nodes; want %d, %d", len(l.HistoryProofVerificationKey), len(l.Nodes), want.VerifyKeyLen, len(want.Contributions))
			}
			for i, c := range want.Contributions {
				if n := l.Nodes[i]; n.NodeID != c.NodeID || n.Weight != c.Weight || len(n.HistoryProofKey) != c.KeyLen {
					t.Errorf("node %d: %+v, want %+v", i, n, c)
				}
			}
		}
		ledgers[set] = l
	}
	if ledgers["CN_11_12_TSS_SCHNORR"].Same(ledgers["CN_11_12_TSS_WRAPS"]) {
		t.Error("two networks with one ledger id")
	}
	b7, err := readFixtureBlock(t, root, mn007)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := LedgerFromBlock(b7); err == nil || ok {
		t.Errorf("a ledger from block 7: %v %v", ok, err)
	}

	for _, name := range sortedNames(doc) {
		want := doc.Files[name]
		set := ""
		for s := range ledgers {
			if strings.Contains(name, "/"+s+"/") {
				set = s
			}
		}
		if set == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			b, err := readFixtureBlock(t, root, name)
			if err != nil {
				t.Fatal(err)
			}
			h, a, err := b.RootHash()
			if err != nil {
				t.Fatal(err)
			}
			v := &ProofVerifier{Ledger: ledgers[set]}
			verdict, err := v.Verify(b, h, a)
			if err != nil {
				t.Fatal(err)
			}
			if verdict.Level != LevelTSSStructure || verdict.Root != h || verdict.Number != want.BlockNumber {
				t.Errorf("level %s root %s block %d", verdict.Level, verdict.Root, verdict.Number)
			}
			if want.Proof.Paths > 0 {
				if verdict.Proof != ProofStateProof || verdict.SignedRoot.String() != want.Proof.ProvenRoot {
					t.Errorf("%s to %s, want a state proof to %s", verdict.Proof, verdict.SignedRoot, want.Proof.ProvenRoot)
				}
				// The proven root is block 5's, which signs it itself.
				b5, err := readFixtureBlock(t, root, "hiero-block-node/test-blocks/CN_11_12_TSS_SCHNORR/5.blk.gz")
				if err != nil {
					t.Fatal(err)
				}
				if h5, _, _ := b5.RootHash(); h5 != verdict.SignedRoot {
					t.Errorf("the state proof leads to %s, block 5's root is %s", verdict.SignedRoot, h5)
				}
				// From another root the path leads nowhere.
				other := h
				other[0] ^= 1
				if _, err := v.Verify(b, other, a); !errors.Is(err, ErrProof) || !errors.Is(err, ErrHashMismatch) {
					t.Errorf("a state proof from a wrong root: %v", err)
				}
			} else if verdict.Proof != ProofTSS {
				t.Errorf("proof %s, want tss", verdict.Proof)
			}
			if !strings.Contains(verdict.Detail, "not checked") {
				t.Errorf("detail %q does not say the cryptography was not checked", verdict.Detail)
			}
			noLedger, err := (&ProofVerifier{}).Verify(b, h, a)
			if err != nil || noLedger.Level != LevelRootHash {
				t.Errorf("without a ledger: %s %v", noLedger.Level, err)
			}
		})
	}

	// The placeholder of a TSS-off network: refused unless allowed, and
	// then only over this very root.
	h7, a7, err := b7.RootHash()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&ProofVerifier{}).Verify(b7, h7, a7); !errors.Is(err, ErrProof) {
		t.Errorf("placeholder not allowed: %v", err)
	}
	allow := &ProofVerifier{AllowPlaceholder: true}
	if verdict, err := allow.Verify(b7, h7, a7); err != nil || verdict.Level != LevelTSSPlaceholder {
		t.Errorf("placeholder allowed: %s %v", verdict.Level, err)
	}
	other := h7
	other[47] ^= 1
	if _, err := allow.Verify(b7, other, a7); !errors.Is(err, ErrProof) {
		t.Errorf("placeholder over another root: %v", err)
	}
}

// TSS signatures of the wrong size are refused, whatever the ledger.
func TestTSSSignatureSizes(t *testing.T) {
	l := &Ledger{ID: make([]byte, LedgerIDSize)}
	for _, n := range []int{0, 47, 49, 2919, 2921, 3431, 3433} {
		if _, err := (StructureTSS{}).VerifyTSS(l, Hash{}, make([]byte, n)); err == nil {
			t.Errorf("%d bytes accepted", n)
		}
	}
	for _, n := range []int{2920, 3432} {
		if level, err := (StructureTSS{}).VerifyTSS(l, Hash{}, make([]byte, n)); err != nil || level != LevelTSSStructure {
			t.Errorf("%d bytes: %s %v", n, level, err)
		}
		if level, err := (StructureTSS{}).VerifyTSS(nil, Hash{}, make([]byte, n)); err != nil || level != LevelRootHash {
			t.Errorf("%d bytes, no ledger: %s %v", n, level, err)
		}
	}
}

// The mirror node's five state-proof vectors walk to its expected root.
func TestStateProofVectors(t *testing.T) {
	root, _ := loadExpected(t)
	raw, err := os.ReadFile(filepath.Join(root, "hedera-mirror-node/stateproof/stateProofTestArtifact.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Block        int               `json:"block"`
		BlockHash    []byte            `json:"blockHash"`
		ExpectedRoot []byte            `json:"expectedRootHash"`
		Paths        []json.RawMessage `json:"merklePaths"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 5 {
		t.Fatalf("%d vectors", len(vectors))
	}
	for _, vec := range vectors {
		sp := &hederapb.StateProof{}
		for _, p := range vec.Paths {
			var mp hederapb.MerklePath
			if err := protojson.Unmarshal(p, &mp); err != nil {
				t.Fatalf("block %d: %v", vec.Block, err)
			}
			sp.Paths = append(sp.Paths, &mp)
		}
		var from Hash
		copy(from[:], vec.BlockHash)
		got, err := WalkStateProof(sp, from)
		if err != nil || hexOf(got[:]) != hexOf(vec.ExpectedRoot) {
			t.Errorf("block %d: %s %v, want %x", vec.Block, got, err, vec.ExpectedRoot)
		}
	}
}

// The mirror node's SignedRecordFileProof of testnet record file
// 2025-06-01T00_00_10.207594022Z.rcd (block 20346052) decodes with our
// field numbers, and its four signatures verify with the testnet address
// book over the file hash the mirror node publishes for it
// (BlockStreamVerifierIntegrationTest).
func TestSignedRecordFileProofArtifact(t *testing.T) {
	root, _ := loadExpected(t)
	raw, err := os.ReadFile(filepath.Join(root, "hedera-mirror-node/signature/wrb/20346052.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var p hederapb.SignedRecordFileProof
	if err := proto.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if p.GetVersion() != 6 || len(p.GetRecordFileSignatures()) != 4 || len(p.ProtoReflect().GetUnknown()) != 0 {
		t.Fatalf("v%d, %d signatures, %d unknown bytes", p.GetVersion(), len(p.GetRecordFileSignatures()), len(p.ProtoReflect().GetUnknown()))
	}
	var sigs []recordstream.NodeSignature
	for _, s := range p.GetRecordFileSignatures() {
		sigs = append(sigs, recordstream.NodeSignature{NodeID: int64(s.GetNodeId()), Signature: s.GetSignaturesBytes()})
	}
	book := loadBook(t, root, "hedera-mirror-node/addressbook/testnet")
	fileHash := mustHex(t, "de900c51272832b0670d204e5d9ff47cd07a5f7c86fac347c41993460ddaec5ee9483c469e6a1c9ed4881ad84201fafa")
	at := time.Unix(0, 1748736010207594022)
	v, err := recordstream.NewBookHistory(book, "testnet").VerifyFileHash(at, fileHash, sigs, recordstream.Threshold{})
	if err != nil || !slices.Equal(v.Signers, []int64{0, 1, 2, 3}) {
		t.Fatalf("signers %v: %v", v.Signers, err)
	}
	fileHash[0] ^= 1
	if v, err := recordstream.NewBookHistory(book, "testnet").VerifyFileHash(at, fileHash, sigs, recordstream.Threshold{}); err == nil || len(v.Signers) != 0 {
		t.Fatalf("another hash: signers %v, %v", v.Signers, err)
	}
}

// A ledger comes from configuration as a hex id or as a serialized
// publication (the mirror node's initialLedgerIdPublication file); what is
// not 32 bytes is refused.
func TestLedgerFromConfiguration(t *testing.T) {
	root, doc := loadExpected(t)
	name := "hiero-block-node/test-blocks/CN_11_12_TSS_WRAPS/0.blk.gz"
	b, err := readFixtureBlock(t, root, name)
	if err != nil {
		t.Fatal(err)
	}
	fromBlock, ok, err := LedgerFromBlock(b)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	pub, err := proto.Marshal(&hederapb.LedgerIdPublicationTransactionBody{LedgerId: fromBlock.ID, HistoryProofVerificationKey: fromBlock.HistoryProofVerificationKey})
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := ParseLedgerPublication(pub, "file")
	if err != nil || !fromFile.Same(fromBlock) {
		t.Fatalf("publication file: %v", err)
	}
	fromID, err := ParseLedgerID(doc.Files[name].Ledger.LedgerID, "LEDGER_ID")
	if err != nil || !fromID.Same(fromBlock) {
		t.Fatalf("hex id: %v", err)
	}
	for _, bad := range []string{"", "17fb", doc.Files[name].Ledger.LedgerID + "00", "zz" + doc.Files[name].Ledger.LedgerID[2:]} {
		if _, err := ParseLedgerID(bad, "LEDGER_ID"); !errors.Is(err, ErrMalformed) {
			t.Errorf("ledger id %q: %v", bad, err)
		}
	}
	short, _ := proto.Marshal(&hederapb.LedgerIdPublicationTransactionBody{LedgerId: make([]byte, 31)})
	if _, err := ParseLedgerPublication(short, "file"); !errors.Is(err, ErrMalformed) {
		t.Errorf("31-byte ledger id: %v", err)
	}
}

package recordstream

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// The threshold is ⌈ratio × total⌉ (ConsensusValidatorImpl: total ×
// consensusRatio, scale 0, RoundingMode.CEILING; the default ratio is 1/3
// to 19 digits, rounded down, which gives the same as the exact third for
// any node count).
func TestThresholdRequired(t *testing.T) {
	third := Threshold{}
	for _, tc := range []struct{ total, want int64 }{
		{1, 1}, {3, 1}, {4, 2}, {6, 2}, {7, 3}, {29, 10}, {31, 11},
		// 50 billion hbar in tinybars, the most stake a network has.
		{5_000_000_000_000_000_000, 1_666_666_666_666_666_667},
	} {
		if got := third.Required(tc.total); got != tc.want {
			t.Errorf("1/3 of %d: %d, want %d", tc.total, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ratio       string
		total, want int64
	}{{"1", 4, 4}, {"0.5", 4, 2}, {"0.51", 4, 3}, {"0.0001", 4, 1}, {"2/3", 9, 6}, {"1/4", 4, 1}} {
		r, err := ParseRatio(tc.ratio)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Threshold{Ratio: r}).Required(tc.total); got != tc.want {
			t.Errorf("%s of %d: %d, want %d", tc.ratio, tc.total, got, tc.want)
		}
	}
	for _, bad := range []string{"0", "-1", "1.5", "x", "1/0", "3/2", ""} {
		if _, err := ParseRatio(bad); err == nil {
			t.Errorf("ratio %q accepted", bad)
		}
	}
	for _, s := range []string{"equal", "STAKE", " Stake "} {
		if _, err := ParseConsensusMode(s); err != nil {
			t.Errorf("mode %q: %v", s, err)
		}
	}
	if _, err := ParseConsensusMode("STAKE_IN_ADDRESS_BOOK_ONLY"); err == nil {
		t.Error("unknown mode accepted")
	}
}

// bookOf builds a book of four nodes with the given stakes and the
// fixture keys (whose keys does not matter for weighing).
func bookOf(t *testing.T, stakes ...int64) *AddressBook {
	t.Helper()
	keys := loadBook(t, "test-v6-4n.bin").Nodes()
	var nodes []Node
	for i, s := range stakes {
		nodes = append(nodes, Node{Account: keys[i].Account, NodeID: keys[i].NodeID, Key: keys[i].Key, Stake: s})
	}
	b, err := NewAddressBook(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Node weights by mode, as the mirror node's AddressBookServiceImplTest
// getNodes table gives them for a four-node book: EQUAL → each 1, total
// 4, whatever the stake; STAKE with 10000 each → 10000, total 40000;
// STAKE with no stake → each 1, total 4.
func TestWeighByMode(t *testing.T) {
	for _, tc := range []struct {
		mode                ConsensusMode
		stake               int64
		wantNode, wantTotal int64
	}{
		{ConsensusEqual, 10000, 1, 4},
		{ConsensusEqual, 0, 1, 4},
		{ConsensusStake, 10000, 10000, 40000},
		{ConsensusStake, 0, 1, 4},
	} {
		b := bookOf(t, tc.stake, tc.stake, tc.stake, tc.stake)
		w := Threshold{Mode: tc.mode}.Weigh(b, []int64{0})
		if w.Weight != tc.wantNode || w.Total != tc.wantTotal {
			t.Errorf("%v, stake %d: one node weighs %d of %d, want %d of %d", tc.mode, tc.stake, w.Weight, w.Total, tc.wantNode, tc.wantTotal)
		}
	}
	// Unequal stake: one node with 70% of it carries a third alone, the
	// three others (30%) do not.
	b := bookOf(t, 70, 10, 10, 10)
	stake := Threshold{Mode: ConsensusStake}
	if w := stake.Weigh(b, []int64{0}); !w.Reached() {
		t.Errorf("70%% of the stake: %v, not reached", w)
	}
	if w := stake.Weigh(b, []int64{1, 2, 3}); w.Reached() {
		t.Errorf("30%% of the stake: %v, reached", w)
	}
	if w := (Threshold{Mode: ConsensusEqual}).Weigh(b, []int64{1, 2, 3}); !w.Reached() {
		t.Errorf("3 of 4 nodes in EQUAL mode: %v, not reached", w)
	}
	// A node counted twice or one the book has not weigh nothing more.
	if w := stake.Weigh(b, []int64{1, 1, 1, 42}); w.Weight != 10 {
		t.Errorf("repeated and unknown ids weigh %d, want 10", w.Weight)
	}
}

// fixtureSigs are the four nodes' signatures of the first v6 fixture file,
// with the file's hash.
func fixtureSigs(t *testing.T) ([]byte, []NodeSignature) {
	t.Helper()
	dir := filepath.Join(streamsDir(t), "v6")
	var hash []byte
	var sigs []NodeSignature
	book := loadBook(t, "test-v6-sidecar-4n.bin")
	for _, n := range book.Nodes() {
		name := "2022-07-13T08_46_08.041986003Z.rcd_sig"
		sig, err := ParseSignature(name, readFixture(t, filepath.Join(dir, "record"+n.Account, name)))
		if err != nil {
			t.Fatal(err)
		}
		hash = sig.FileHash
		sigs = append(sigs, NodeSignature{NodeID: n.NodeID, Signature: sig.FileSignature})
	}
	return hash, sigs
}

// The check a wrapped record block needs: a consensus time, a file hash
// and (node id, signature) pairs, weighed against the book in force then.
func TestVerifyFileHash(t *testing.T) {
	if _, err := os.Stat(filepath.Join(streamsDir(t), "v6")); err != nil {
		t.Fatal(err)
	}
	hash, sigs := fixtureSigs(t)
	book := loadBook(t, "test-v6-sidecar-4n.bin")
	h := NewBookHistory(book, "test")
	at := time.Date(2022, 7, 13, 8, 46, 8, 41986003, time.UTC)

	v, err := h.VerifyFileHash(at, hash, sigs, Threshold{})
	if err != nil || len(v.Signers) != 4 || v.Weight != 4 || v.Total != 4 || v.Required != 2 {
		t.Errorf("four signatures: %+v, %v", v, err)
	}
	// One signature of four is not a third of the network.
	v, err = h.VerifyFileHash(at, hash, sigs[:1], Threshold{})
	if !errors.Is(err, ErrNoConsensus) || v.Weight != 1 || v.Required != 2 {
		t.Errorf("one signature of four: %+v, %v", v, err)
	}
	// A signature over another hash, or under another node's id, does
	// not verify and is not counted.
	bad := []NodeSignature{sigs[0], {NodeID: 1, Signature: sigs[2].Signature}, {NodeID: 9, Signature: sigs[3].Signature}}
	v, err = h.VerifyFileHash(at, hash, bad, Threshold{})
	if !errors.Is(err, ErrNoConsensus) || len(v.Signers) != 1 || !errors.Is(v.Failed[1], ErrBadSignature) || !errors.Is(v.Failed[9], ErrBadSignature) {
		t.Errorf("misattributed signatures: %+v, %v", v, err)
	}

	// A later book that rotated node 0's key (here: node 0 given node 1's
	// key) is not used for the file before it, and is for a file after.
	var rotated []Node
	for _, n := range book.Nodes() {
		if n.NodeID == 0 {
			n.Key = book.Nodes()[1].Key
		}
		rotated = append(rotated, n)
	}
	rb, err := NewAddressBook(rotated...)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Add(at.Add(time.Second), rb, "rotation"); err != nil {
		t.Fatal(err)
	}
	if v, err := h.VerifyFileHash(at, hash, sigs, Threshold{}); err != nil || len(v.Signers) != 4 {
		t.Errorf("before the rotation: %+v, %v", v, err)
	}
	v, err = h.VerifyFileHash(at.Add(2*time.Second), hash, sigs, Threshold{})
	if err != nil || len(v.Signers) != 3 || v.Failed[0] == nil {
		t.Errorf("after the rotation, node 0's old signature must fail: %+v, %v", v, err)
	}
	if got := h.DatedAt(at.Add(time.Second)); got.Source != "rotation" {
		t.Errorf("book in force at its own start: %q", got.Source)
	}
	if got := h.DatedAt(at.Add(time.Second - 1)); got.Source != "test" {
		t.Errorf("book in force 1 ns before the rotation: %q", got.Source)
	}
}

// The mirror node's rules for reading an address-book update
// (AddressBookServiceImpl): node ids from early books without them are
// account number − 3; an entry per endpoint of one node is one node; a
// node whose key does not read stays in the book, keyless; an account of
// another shard makes the whole book unusable.
func TestParseBookUpdate(t *testing.T) {
	fixture := readFixture(t, filepath.Join(fixtureRoot(t), "hedera-mirror-node", "addressbook", "testnet"))
	b, err := ParseBookUpdate(fixture, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := loadBook(t, "testnet")
	for _, n := range want.Nodes() {
		got, ok := b.NodeByID(n.NodeID)
		if !ok || got.Account != n.Account || !got.Key.Equal(n.Key) {
			t.Errorf("node %s: %+v", n.Account, got)
		}
	}
	legacy := &hederapb.NodeAddressBook{NodeAddress: []*hederapb.NodeAddress{
		{Memo: []byte("0.0.3"), RSA_PubKey: "not hex"},
		{Memo: []byte("0.0.5"), RSA_PubKey: "00"},
		{Memo: []byte("0.0.5"), RSA_PubKey: "00", Portno: 50212},
		{NodeAccountId: &hederapb.AccountID{Account: &hederapb.AccountID_AccountNum{AccountNum: 25}}, NodeId: 7, Stake: 9},
	}}
	data, err := proto.Marshal(legacy)
	if err != nil {
		t.Fatal(err)
	}
	b, err = ParseBookUpdate(data, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 {
		t.Errorf("%d nodes, want 3", b.Len())
	}
	for account, id := range map[string]int64{"0.0.3": 0, "0.0.5": 2, "0.0.25": 7} {
		n, ok := b.NodeByAccount(account)
		if !ok || n.NodeID != id || n.Key != nil {
			t.Errorf("%s: %+v, want node id %d without a key", account, n, id)
		}
	}
	if n, _ := b.NodeByID(7); n.Stake != 9 {
		t.Errorf("stake %d, want 9", n.Stake)
	}
	other := &hederapb.NodeAddressBook{NodeAddress: []*hederapb.NodeAddress{{NodeAccountId: &hederapb.AccountID{ShardNum: 1, Account: &hederapb.AccountID_AccountNum{AccountNum: 3}}}}}
	if data, _ := proto.Marshal(other); true {
		if _, err := ParseBookUpdate(data, 0, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("a node of shard 1 in a shard-0 book: %v", err)
		}
	}
	if _, err := ParseBookUpdate(nil, 0, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("an empty book: %v", err)
	}
}

package consensus

import (
	"bytes"
	"math/big"
	"testing"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
)

func sig(id int64, file, meta byte) Signed {
	return Signed{NodeID: id, Account: "0.0." + string(rune('3'+id)), Sig: &recordstream.Signature{FileHash: bytes.Repeat([]byte{file}, 48), MetadataHash: bytes.Repeat([]byte{meta}, 48)}}
}

// book is a generated network's book of n nodes (ids 0 … n-1).
func book(t *testing.T, n int) *recordstream.AddressBook {
	t.Helper()
	net, err := streamgen.NewNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	return net.Book()
}

func TestDecide(t *testing.T) {
	b := book(t, 4)
	third := recordstream.Threshold{}
	rank := map[int64]int{0: 0, 1: 1, 2: 2, 3: 3}
	// Three agree (listed out of order), one forked.
	gs, _ := Decide([]Signed{sig(3, 1, 1), sig(2, 2, 2), sig(1, 1, 1), sig(0, 1, 1)}, b, third, rank)
	if len(gs) != 1 || gs[0].FileHash[0] != 1 || len(gs[0].Nodes) != 3 || gs[0].Weighing.Weight != 3 || gs[0].Weighing.Required != 2 {
		t.Fatalf("got %+v", gs)
	}
	if got := gs[0].Signers(); got[0] != "0.0.3" || got[1] != "0.0.4" || got[2] != "0.0.6" {
		t.Errorf("signers %v, want download order", got)
	}
	// Same file hash, different metadata hash: not the same file.
	if gs, _ := Decide([]Signed{sig(0, 1, 1), sig(1, 1, 2)}, b, third, rank); len(gs) != 0 {
		t.Errorf("agreement across different metadata hashes: %+v", gs)
	}
	// Two forks each carrying a third of four nodes are both the
	// network's (the mirror node marks both CONSENSUS_REACHED): the
	// heavier first, then the smaller hash.
	gs, _ = Decide([]Signed{sig(0, 2, 2), sig(1, 2, 2), sig(2, 1, 1), sig(3, 1, 1)}, b, third, rank)
	if len(gs) != 2 || gs[0].FileHash[0] != 1 || gs[1].FileHash[0] != 2 {
		t.Errorf("forks: %+v", gs)
	}
	// Not enough: one signature of four, however few nodes are read.
	gs, best := Decide([]Signed{sig(0, 1, 1)}, b, third, map[int64]int{0: 0})
	if len(gs) != 0 || best.Weight != 1 || best.Total != 4 || best.Required != 2 {
		t.Errorf("one of four: %+v %v", gs, best)
	}
	if gs, best := Decide(nil, b, third, rank); len(gs) != 0 || best.Total != 4 {
		t.Errorf("no signatures: %+v %v", gs, best)
	}
	// A signer the book does not have weighs nothing.
	if gs, _ := Decide([]Signed{sig(0, 1, 1), sig(9, 1, 1)}, b, third, rank); len(gs) != 0 {
		t.Errorf("a signer outside the book was counted: %+v", gs)
	}
	// All of them, when the ratio says so.
	all := recordstream.Threshold{Ratio: big.NewRat(1, 1)}
	if gs, _ := Decide([]Signed{sig(0, 1, 1), sig(1, 1, 1), sig(2, 1, 1)}, b, all, rank); len(gs) != 0 {
		t.Errorf("3 of 4 with ratio 1: %+v", gs)
	}
}

package consensus

import (
	"bytes"
	"testing"

	"tributary.dev/libs/recordstream"
)

func TestRequired(t *testing.T) {
	third, err := ParseRatio("1/3")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    Ratio
		n    int
		want int
	}{
		{third, 1, 1}, {third, 3, 1}, {third, 4, 2}, {third, 6, 2}, {third, 7, 3}, {third, 29, 10},
		{1, 4, 4}, {0.5, 4, 2}, {0.51, 4, 3}, {0.0001, 4, 1},
	} {
		if got := tc.r.Required(tc.n); got != tc.want {
			t.Errorf("ratio %v of %d nodes: %d, want %d", tc.r, tc.n, got, tc.want)
		}
	}
	for _, bad := range []string{"0", "-1", "1.5", "x", "1/0", "3/2"} {
		if _, err := ParseRatio(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func sig(node string, file, meta byte) Signed {
	return Signed{Node: node, Sig: &recordstream.Signature{FileHash: bytes.Repeat([]byte{file}, 48), MetadataHash: bytes.Repeat([]byte{meta}, 48)}}
}

func TestDecide(t *testing.T) {
	order := []string{"0.0.3", "0.0.4", "0.0.5", "0.0.6"}
	// Three agree (listed out of order), one forked.
	g, ok := Decide([]Signed{sig("0.0.6", 1, 1), sig("0.0.5", 2, 2), sig("0.0.4", 1, 1), sig("0.0.3", 1, 1)}, 2, order)
	if !ok || g.FileHash[0] != 1 || len(g.Nodes) != 3 {
		t.Fatalf("got %v %+v", ok, g)
	}
	if got := g.Signers(); got[0] != "0.0.3" || got[1] != "0.0.4" || got[2] != "0.0.6" {
		t.Errorf("signers %v, want configured order", got)
	}
	// Same file hash, different metadata hash: not the same file.
	if _, ok := Decide([]Signed{sig("0.0.3", 1, 1), sig("0.0.4", 1, 2)}, 2, order); ok {
		t.Error("agreement across different metadata hashes")
	}
	// Not enough.
	if _, ok := Decide([]Signed{sig("0.0.3", 1, 1), sig("0.0.4", 2, 2)}, 2, order); ok {
		t.Error("two different hashes reached 2")
	}
	if _, ok := Decide(nil, 1, order); ok {
		t.Error("no signatures reached consensus")
	}
}

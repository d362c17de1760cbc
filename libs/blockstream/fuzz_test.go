package blockstream

import (
	"testing"
)

// No input makes the reader panic or hash outside what it read; what it
// accepts it accepts again the same, and hashes under both algorithms.
func FuzzParsePlain(f *testing.F) {
	root, _ := loadExpected(f)
	// Small blocks only: the fuzzer mutates small inputs far faster.
	for _, name := range []string{mn007, mn008, "hedera-mirror-node/wrbs/0000/0000/0000/0000/000.blk.zstd"} {
		f.Add(plainFixture(f, root, name))
	}
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := defaultReader().ParsePlain("fuzz.blk", data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		size := 0
		for _, it := range b.Items {
			size += len(it.Raw)
		}
		if size > len(data) {
			t.Fatalf("items hold %d bytes of %d", size, len(data))
		}
		h8, err8 := b.RootHashWith(EightLeaf)
		h16, err16 := b.RootHashWith(SixteenLeaf)
		b.ConsensusRange()
		b.Rounds()
		again, err := defaultReader().ParsePlain("fuzz.blk", data)
		if err != nil || len(again.Items) != len(b.Items) {
			t.Fatalf("read once, refused again: %v", err)
		}
		if g8, e := again.RootHashWith(EightLeaf); g8 != h8 || (e == nil) != (err8 == nil) {
			t.Fatal("8-leaf root changed between two reads")
		}
		if g16, e := again.RootHashWith(SixteenLeaf); g16 != h16 || (e == nil) != (err16 == nil) {
			t.Fatal("16-leaf root changed between two reads")
		}
	})
}

func FuzzParseName(f *testing.F) {
	f.Add("0000/0000/0008/2297/471.blk.zstd")
	f.Add("0000000000000000007.blk")
	f.Fuzz(func(t *testing.T, name string) {
		n, err := ParseName(name)
		if err != nil {
			return
		}
		if got, err := ParseName(ObjectPath(n.Number, n.Compression)); err != nil || got != n {
			t.Fatalf("%q → %+v, whose path reads back as %+v, %v", name, n, got, err)
		}
	})
}

package blockstream_test

import (
	"testing"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
)

// The header item of a generated block names its number, and a block
// rebuilt item by item with AppendItem is byte for byte the block.
func TestHeaderItemNumberAndAppendItem(t *testing.T) {
	g := blockgen.New(blockgen.Options{})
	for i := 0; i < 3; i++ {
		blk, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := blockstream.Parse(blockstream.FileName(blk.Number, blockstream.Plain), blk.Plain)
		if err != nil {
			t.Fatal(err)
		}
		var rebuilt []byte
		size := 0
		for j, it := range b.Items {
			if got := blockstream.IsHeaderItem(it.Raw); got != (j == 0) {
				t.Errorf("block %d item %d: IsHeaderItem %v", blk.Number, j, got)
			}
			rebuilt = blockstream.AppendItem(rebuilt, it.Raw)
			size += blockstream.ItemSize(it.Raw)
		}
		n, err := blockstream.HeaderItemNumber(b.Items[0].Raw)
		if err != nil || n != blk.Number {
			t.Errorf("block %d: header item names %d, %v", blk.Number, n, err)
		}
		if string(rebuilt) != string(blk.Plain) || size != len(blk.Plain) {
			t.Errorf("block %d rebuilt from its items: %d bytes (sized %d), want the %d of the block", blk.Number, len(rebuilt), size, len(blk.Plain))
		}
		if _, err := blockstream.HeaderItemNumber(b.Items[1].Raw); err == nil {
			t.Errorf("block %d: a non-header item read as a header", blk.Number)
		}
	}
}

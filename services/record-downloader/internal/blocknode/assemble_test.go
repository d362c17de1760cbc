package blocknode

import (
	"bytes"
	"errors"
	"testing"

	standin "tributary.dev/libs/testkit/blocknode"
)

// The assembler keeps to the subscription protocol the block node
// documents and the mirror node enforces, and refuses what breaks it.
func TestAssemblerRefusesProtocolBreaks(t *testing.T) {
	items := func(n uint64) [][]byte {
		it, err := standin.SplitItems(standin.GenerateBlock(n, 2))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	b7, b8 := items(7), items(8)
	type step struct {
		set [][]byte // an item set, or nil for a BlockEnd
		end uint64
	}
	cases := []struct {
		name  string
		steps []step
		want  string // "protocol", "too_large", or "" for a block
	}{
		{"whole block", []step{{set: b7}, {end: 7}}, ""},
		{"split block", []step{{set: b7[:1]}, {set: b7[1:4]}, {set: b7[4:]}, {end: 7}}, ""},
		{"no header first", []step{{set: b7[1:]}}, "protocol"},
		{"a second header while open", []step{{set: b7[:3]}, {set: b8}}, "protocol"},
		{"the wrong block", []step{{set: b8}}, "protocol"},
		{"end with nothing open", []step{{end: 7}}, "protocol"},
		{"end of another block", []step{{set: b7}, {end: 8}}, "protocol"},
		{"too many items", []step{{set: append(append([][]byte{}, b7...), b7[1:]...)}}, "too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := assembler{next: 7, maxItems: len(b7), maxBytes: 1 << 20}
			var err error
			var got Block
			for _, s := range c.steps {
				if s.set != nil {
					err = a.add(s.set)
				} else {
					got, err = a.end(s.end)
				}
				if err != nil {
					break
				}
			}
			var pe *protocolError
			var tl *tooLargeError
			switch c.want {
			case "":
				if err != nil || got.Number != 7 || !bytes.Equal(got.Bytes, standin.GenerateBlock(7, 2)) || got.Items != len(b7) || a.next != 8 {
					t.Errorf("got block %d (%d items), err %v, next %d; want block 7 byte for byte, next 8", got.Number, got.Items, err, a.next)
				}
			case "protocol":
				if !errors.As(err, &pe) {
					t.Errorf("err %v, want a protocol error", err)
				}
			case "too_large":
				if !errors.As(err, &tl) {
					t.Errorf("err %v, want a too-large error", err)
				}
			}
		})
	}
	t.Run("bytes limit", func(t *testing.T) {
		a := assembler{next: 7, maxItems: 100, maxBytes: len(standin.GenerateBlock(7, 2)) - 1}
		var tl *tooLargeError
		if err := a.add(b7); !errors.As(err, &tl) {
			t.Errorf("err %v, want a too-large error one byte over", err)
		}
	})
	t.Run("block 0 header without a number", func(t *testing.T) {
		// proto3 leaves a zero number out; the header still names block 0.
		header := []byte{0x0a, 0x02, 0x0a, 0x00} // BlockItem{block_header: {hapi_proto_version: {}}}
		a := assembler{next: 0, maxItems: 10, maxBytes: 1 << 10}
		if err := a.add([][]byte{header}); err != nil {
			t.Fatal(err)
		}
		if b, err := a.end(0); err != nil || b.Number != 0 || !bytes.Equal(b.Bytes, append([]byte{0x0a, 0x04}, header...)) {
			t.Errorf("block 0: %+v, %v", b, err)
		}
	})
}

package recordstream

import (
	"bytes"
	"fmt"
)

// Follows checks that next continues the stream after prev: its previous
// hash (v2) or start running hash (v5, v6) equals prev's ChainHash, across
// version changes too (a v5 file after a v2 one starts from the v2 file
// hash; a v6 file after a v5 one from the v5 end running hash).
func Follows(prev, next *RecordFile) error {
	want := prev.ChainHash()
	if !bytes.Equal(next.PrevHash, want) {
		return fmt.Errorf("%s does not follow %s: it starts from %x, %s ends with %x: %w",
			next.Name, prev.Name, next.PrevHash, prev.Name, want, ErrChainBroken)
	}
	return nil
}

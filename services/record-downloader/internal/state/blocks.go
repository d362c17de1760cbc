package state

import (
	"fmt"
	"time"
)

// Blocks is the name of the live block stream's position;
// BackfillBlocks the name of a block-range backfill's.
const Blocks = "blocks"

func BackfillBlocks(from, to uint64) string { return fmt.Sprintf("backfill-blocks-%d-%d", from, to) }

// BlockPosition is where a block stream stands: the last block done (or,
// right after the cutover, the anchor the first block must chain on).
type BlockPosition struct {
	// Number is the last block written, or the anchor's number (the last
	// record file's block number) before the first.
	Number uint64 `json:"last_block"`
	// Root is that block's root hash (hex): the next block's footer must
	// carry it as its previous root hash.
	Root string `json:"root_hash"`
	// Time is the block's timestamp.
	Time time.Time `json:"block_time,omitzero"`
	// Anchored says the chain started at a verified anchor (the cutover's
	// wrapped record block); false: it started at START_BLOCK or a
	// backfill's first block, taken as it came.
	Anchored bool `json:"anchored"`
	// Cutover records how the stream crossed from record files to blocks.
	Cutover *Cutover `json:"cutover,omitempty"`
	// Source is the source the last block was taken from.
	Source  string    `json:"source,omitempty"`
	Updated time.Time `json:"updated"`
}

// Cutover is the switch from the record stream to the block stream.
type Cutover struct {
	// RecordFile and RecordHash are the last record file written (its
	// consensus-time stem) and its agreed file hash.
	RecordFile string `json:"record_file"`
	RecordHash string `json:"record_file_hash"`
	// RecordBlock is that file's block number; the first block is the
	// next.
	RecordBlock uint64 `json:"record_block"`
	// WrappedRoot is the root hash of that file's wrapped record block,
	// which the first block's footer named as its previous root hash.
	WrappedRoot string    `json:"wrapped_root_hash"`
	WrappedFrom string    `json:"wrapped_from"`
	At          time.Time `json:"at"`
}

// LoadBlocks reads the block position name; found is false when it was
// never saved.
func (s *Store) LoadBlocks(name string) (p BlockPosition, found bool, err error) {
	found, err = s.load(name, &p, "it names the last block done and its root hash")
	return p, found, err
}

// SaveBlocks replaces the block position name atomically.
func (s *Store) SaveBlocks(name string, p BlockPosition) error {
	p.Updated = time.Now().UTC()
	return s.save(name, p)
}

package blockstream

import (
	"fmt"
	"time"
)

// Kind is a block item's kind: its field number in the BlockItem message.
// Numbers from 20 up are items a newer network may add (kept, and hashed
// into the subtree the number says, where the algorithm has one).
type Kind uint32

const (
	KindBlockHeader        Kind = 1
	KindEventHeader        Kind = 2
	KindRoundHeader        Kind = 3
	KindSignedTransaction  Kind = 4
	KindTransactionResult  Kind = 5
	KindTransactionOutput  Kind = 6
	KindStateChanges       Kind = 7
	KindFilteredSingleItem Kind = 8
	KindBlockProof         Kind = 9
	KindRecordFile         Kind = 10
	KindTraceData          Kind = 11
	KindBlockFooter        Kind = 12
	KindRedactedItem       Kind = 19
)

var kindNames = map[Kind]string{
	KindBlockHeader:        "block_header",
	KindEventHeader:        "event_header",
	KindRoundHeader:        "round_header",
	KindSignedTransaction:  "signed_transaction",
	KindTransactionResult:  "transaction_result",
	KindTransactionOutput:  "transaction_output",
	KindStateChanges:       "state_changes",
	KindFilteredSingleItem: "filtered_single_item",
	KindBlockProof:         "block_proof",
	KindRecordFile:         "record_file",
	KindTraceData:          "trace_data",
	KindBlockFooter:        "block_footer",
	KindRedactedItem:       "redacted_item",
}

// String is the item's field name in BlockItem ("transaction_result"), or
// "item_<n>" for a number this package has no name for.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("item_%d", uint32(k))
}

// Item is one block item. Raw is the serialized BlockItem exactly as read
// (what the root hash is taken over); Payload is the bytes of its one
// field: the message of that kind, or for a signed transaction the
// SignedTransaction bytes. Both alias the block's buffer: do not modify
// them. Decode a payload with the hederapb type of its kind when needed.
type Item struct {
	Kind    Kind
	Raw     []byte
	Payload []byte
}

// Version is a SemanticVersion: major.minor.patch, with the optional
// pre-release and build strings.
type Version struct {
	Major, Minor, Patch int32
	Pre, Build          string
}

func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Less compares major, minor and patch (pre-release and build are not
// ordered: 0.73.0-SNAPSHOT counts as 0.73.0).
func (v Version) Less(major, minor, patch int32) bool {
	if v.Major != major {
		return v.Major < major
	}
	if v.Minor != minor {
		return v.Minor < minor
	}
	return v.Patch < patch
}

// Header is the block's BlockHeader.
type Header struct {
	HAPI     Version
	Software Version
	Number   uint64
	// TimestampNs is block_timestamp in nanoseconds since the Unix epoch.
	TimestampNs int64
	// timestamp is the serialized block_timestamp as read: the root
	// hash's first leaf.
	timestamp []byte
}

// Time is the block's timestamp.
func (h Header) Time() time.Time { return time.Unix(0, h.TimestampNs).UTC() }

// Footer is the block's BlockFooter.
type Footer struct {
	PreviousRootHash          []byte
	RootOfAllBlockHashes      []byte
	StartOfBlockStateRootHash []byte
}

// Block is a block read and checked against itself: its items in order,
// its header and footer decoded, nothing else decoded.
type Block struct {
	// Name is the object or file name the caller gave.
	Name string
	// Size is the uncompressed size in bytes.
	Size   int64
	Header Header
	Footer Footer
	Items  []Item
	// Wrapped says this is a wrapped record block: a record file with its
	// node signatures instead of events and transactions.
	Wrapped bool

	counts      map[Kind]int
	footerIndex int
}

// Number is the header's block number.
func (b *Block) Number() uint64 { return b.Header.Number }

// Count is how many items of kind k the block has.
func (b *Block) Count(k Kind) int { return b.counts[k] }

// Proofs are the block's proof items (one or more, after the footer).
func (b *Block) Proofs() []Item { return b.Items[b.footerIndex+1:] }

// Transactions is how many transactions with a record the block holds:
// its transaction results (a signed transaction without one is a system
// transaction; inner transactions of a batch each have one).
func (b *Block) Transactions() int { return b.counts[KindTransactionResult] }

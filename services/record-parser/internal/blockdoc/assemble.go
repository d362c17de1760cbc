package blockdoc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/blockstream"
)

// tx is one transaction of a block as the mirror node assembles it: a
// signed transaction (a signed_transaction item, or an inner transaction
// of the atomic batch before it) with the transaction_result that follows,
// its outputs, trace data and state changes. Slices alias the block.
type tx struct {
	signed     []byte // SignedTransaction bytes
	body       []byte // its bodyBytes
	sigMap     []byte // its sigMap (for the legacy hash)
	legacyHash bool   // SignedTransaction.use_legacy_transaction_hash_algorithm

	// From the body.
	txID    []byte // TransactionID message
	memo    []byte
	typeNum int    // TransactionBody.data member number
	data    []byte // the data member's bytes

	result      []byte // TransactionResult bytes
	status      int32
	consensusNs int64
	consensus   []byte // the result's Timestamp message
	hasParent   bool
	parentNs    int64

	// Item index ranges in the block: outputs, trace data and the state
	// changes that belong to the transaction (their timestamp is its).
	outFrom, outTo     int
	traceFrom, traceTo int
	stateFrom, stateTo int

	parent     int // index of the parent transaction in the block, -1
	successful bool
	inBatch    bool // an inner transaction of an atomic batch

	claim claim // what the state changes gave it (claims.go)
}

// TransactionBody.data members the conversion looks at.
const (
	typeContractCall   = 7
	typeContractCreate = 8
	typeCryptoCreate   = 11
	typeFileCreate     = 17
	typeTopicCreate    = 24
	typeSubmitMessage  = 27
	typeTokenCreate    = 29
	typeTokenMint      = 37
	typeScheduleCreate = 42
	typeScheduleSign   = 44
	typeEthereum       = 50
	typeUtilPrng       = 52
	typeNodeCreate     = 54
	typeAtomicBatch    = 74
)

// isData says whether n is a member of TransactionBody.data: from 7 on,
// except the reserved 30 and 61..64, and batch_key = 73.
func isData(n protowire.Number) bool {
	return n >= 7 && n != 30 && (n < 61 || n > 64) && n != 73
}

// walker reads a block's items in the order the mirror node does
// (BlockStreamReaderImpl): rounds of events of transactions, state changes
// that belong to no transaction passed over wherever they may stand.
type walker struct {
	items []blockstream.Item
	i     int
	txs   []tx

	batch []byte // the atomic batch body whose inner transactions come next
}

func (w *walker) fail(format string, args ...any) error {
	at := ""
	if w.i < len(w.items) {
		at = fmt.Sprintf("item %d (%s): ", w.i, w.items[w.i].Kind)
	}
	return fmt.Errorf("%s%s", at, fmt.Sprintf(format, args...))
}

// take consumes the next item if it is of kind k and returns it. State
// changes before it are consumed too, unless k is an item that may be
// followed by the transaction's own state changes.
func (w *walker) take(k blockstream.Kind) (blockstream.Item, bool) {
	for w.i < len(w.items) {
		it := w.items[w.i]
		switch {
		case it.Kind == k:
			w.i++
			return it, true
		case it.Kind == blockstream.KindStateChanges && k != blockstream.KindTraceData && k != blockstream.KindTransactionOutput:
			w.i++
		default:
			return blockstream.Item{}, false
		}
	}
	return blockstream.Item{}, false
}

// walk assembles every transaction of a (not wrapped) block into w.txs.
func (w *walker) walk() error {
	if _, ok := w.take(blockstream.KindBlockHeader); !ok {
		return w.fail("no block_header first")
	}
	for {
		if _, ok := w.take(blockstream.KindRoundHeader); !ok {
			break
		}
		for {
			from := w.i
			w.take(blockstream.KindEventHeader)
			if err := w.transactions(); err != nil {
				return err
			}
			if w.i == from {
				break
			}
		}
	}
	if _, ok := w.take(blockstream.KindBlockFooter); !ok {
		return w.fail("out of place: the mirror node's reading of a block expects the block_footer here")
	}
	return nil
}

// nextSigned is the next signed transaction: a signed_transaction item,
// else the next inner transaction of the atomic batch read last.
func (w *walker) nextSigned() (signed []byte, inBatch, ok bool, err error) {
	if it, ok := w.take(blockstream.KindSignedTransaction); ok {
		return it.Payload, false, true, nil
	}
	for len(w.batch) > 0 {
		f, rest, err := nextField(w.batch)
		if err != nil {
			return nil, false, false, fmt.Errorf("atomic batch transactions: %w", err)
		}
		w.batch = rest
		if f.num == 1 && f.typ == protowire.BytesType {
			return f.b, true, true, nil
		}
	}
	return nil, false, false, nil
}

func nextField(b []byte) (field, []byte, error) {
	it := fields{buf: b}
	var f field
	if !it.next(&f) {
		if it.err == nil {
			it.err = fmt.Errorf("no field")
		}
		return f, nil, it.err
	}
	return f, it.buf, nil
}

// transactions reads the transactions of one event.
func (w *walker) transactions() error {
	for {
		signed, inBatch, ok, err := w.nextSigned()
		if err != nil {
			return w.fail("%v", err)
		}
		if !ok {
			return nil
		}
		var t tx
		t.signed, t.inBatch, t.parent = signed, inBatch, -1
		if err := t.decodeSigned(); err != nil {
			return w.fail("transaction %d: %v", len(w.txs), err)
		}
		res, ok := w.take(blockstream.KindTransactionResult)
		if !ok {
			// A system transaction (a state signature, say) has no
			// record; an inner transaction without one means its batch
			// stopped there, and no further inner transaction ran.
			if inBatch {
				w.batch = nil
			}
			continue
		}
		t.result = res.Payload
		if err := t.decodeResult(); err != nil {
			return w.fail("transaction_result: %v", err)
		}
		t.outFrom = w.i
		for {
			if _, ok := w.take(blockstream.KindTransactionOutput); !ok {
				break
			}
		}
		t.outTo, t.traceFrom = w.i, w.i
		for {
			if _, ok := w.take(blockstream.KindTraceData); !ok {
				break
			}
		}
		t.traceTo, t.stateFrom = w.i, w.i
		t.stateTo = w.i
		for w.i < len(w.items) && w.items[w.i].Kind == blockstream.KindStateChanges {
			ts, err := stateChangesTime(w.items[w.i].Payload)
			if err != nil {
				return w.fail("state_changes: %v", err)
			}
			w.i++
			if ts != t.consensusNs {
				// Consumed all the same: changes of no transaction.
				break
			}
			t.stateTo = w.i
		}
		w.link(&t)
		w.txs = append(w.txs, t)
		if t.typeNum == typeAtomicBatch {
			w.batch = t.data
		}
	}
}

// link finds t's parent among the transactions before it, as the mirror
// node does: the one before it, its parent, or its grandparent (the inner
// transaction of a batch may have children of its own), and whether it
// succeeded (it and every parent did).
func (w *walker) link(t *tx) {
	if t.hasParent && len(w.txs) > 0 {
		prev := len(w.txs) - 1
		p := &w.txs[prev]
		switch {
		case t.parentNs == p.consensusNs:
			t.parent = prev
		case p.parent >= 0 && t.parentNs == w.txs[p.parent].consensusNs:
			t.parent = p.parent
		case p.parent >= 0 && w.txs[p.parent].hasParent && t.parentNs == w.txs[p.parent].parentNs:
			t.parent = w.txs[p.parent].parent
		}
	}
	t.successful = isSuccess(t.status) && (t.parent < 0 || w.txs[t.parent].successful)
}

// Statuses the mirror node counts as success.
const (
	statusSuccess                 = 22
	statusFeeSchedulePartUploaded = 104
	statusIdenticalSchedule       = 210
	statusSuccessMissingOperation = 220
)

func isSuccess(s int32) bool {
	return s == statusSuccess || s == statusFeeSchedulePartUploaded || s == statusSuccessMissingOperation
}

// decodeSigned reads the SignedTransaction and the body fields the
// conversion needs.
func (t *tx) decodeSigned() error {
	it := fields{buf: t.signed}
	var f field
	for it.next(&f) {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			t.body = f.b
		case f.num == 2 && f.typ == protowire.BytesType:
			t.sigMap = f.b
		case f.num == 3 && f.typ == protowire.VarintType:
			t.legacyHash = f.v != 0
		}
	}
	if it.err != nil {
		return fmt.Errorf("SignedTransaction: %w", it.err)
	}
	it = fields{buf: t.body}
	for it.next(&f) {
		switch {
		case f.typ == protowire.BytesType && isData(f.num):
			t.typeNum, t.data = int(f.num), f.b
		case f.num == 1 && f.typ == protowire.BytesType:
			t.txID = f.b
		case f.num == 6 && f.typ == protowire.BytesType:
			t.memo = f.b
		}
	}
	if it.err != nil {
		return fmt.Errorf("TransactionBody: %w", it.err)
	}
	return nil
}

// decodeResult reads the fields of the TransactionResult the walk needs.
func (t *tx) decodeResult() error {
	it := fields{buf: t.result}
	var f field
	seen := false
	for it.next(&f) {
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			t.status = int32(f.v)
		case f.num == 2 && f.typ == protowire.BytesType:
			ns, err := timestampNs(f.b)
			if err != nil {
				return fmt.Errorf("consensus_timestamp: %w", err)
			}
			t.consensus, t.consensusNs, seen = f.b, ns, true
		case f.num == 3 && f.typ == protowire.BytesType:
			ns, err := timestampNs(f.b)
			if err != nil {
				return fmt.Errorf("parent_consensus_timestamp: %w", err)
			}
			t.parentNs, t.hasParent = ns, true
		}
	}
	if it.err != nil {
		return it.err
	}
	if !seen {
		return fmt.Errorf("no consensus_timestamp")
	}
	return nil
}

// stateChangesTime is a StateChanges item's consensus_timestamp.
func stateChangesTime(m []byte) (int64, error) {
	ts, err := bytesField(m, 1)
	if err != nil {
		return 0, err
	}
	return timestampNs(ts)
}

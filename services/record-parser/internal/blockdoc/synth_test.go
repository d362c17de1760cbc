package blockdoc

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb"
)

// blockBuilder writes a block item by item, for the shapes the fixtures
// do not hold (batches, children, system transactions).
type blockBuilder struct {
	t     *testing.T
	items []*hederapb.BlockItem
}

func newBlock(t *testing.T) *blockBuilder {
	b := &blockBuilder{t: t}
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_BlockHeader{BlockHeader: &hederapb.BlockHeader{
		HapiProtoVersion: &hederapb.SemanticVersion{Minor: 78}, Number: 9, BlockTimestamp: ts(1_000)}}})
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_RoundHeader{RoundHeader: &hederapb.RoundHeader{RoundNumber: 1}}})
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_EventHeader{EventHeader: &hederapb.EventHeader{}}})
	return b
}

func ts(ns int64) *hederapb.Timestamp {
	return &hederapb.Timestamp{Seconds: 1_700_000_000 + ns/1e9, Nanos: int32(ns % 1e9)}
}

func (b *blockBuilder) add(it *hederapb.BlockItem) { b.items = append(b.items, it) }

// signed is a SignedTransaction whose body is body, with extra raw bytes
// appended to the body (fields our subset has no message for).
func (b *blockBuilder) signed(body *hederapb.TransactionBody, extra []byte) []byte {
	bb, err := proto.Marshal(body)
	if err != nil {
		b.t.Fatal(err)
	}
	st, err := proto.Marshal(&hederapb.SignedTransaction{BodyBytes: append(bb, extra...)})
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

func (b *blockBuilder) transaction(signed []byte) {
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_SignedTransaction{SignedTransaction: signed}})
}

func (b *blockBuilder) result(at int64, parent int64, status hederapb.ResponseCodeEnum) {
	r := &hederapb.TransactionResult{Status: status, ConsensusTimestamp: ts(at), TransactionFeeCharged: uint64(at)}
	if parent != 0 {
		r.ParentConsensusTimestamp = ts(parent)
	}
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_TransactionResult{TransactionResult: r}})
}

// topics adds state changes at time at that update the given topics.
func (b *blockBuilder) topics(at int64, nums ...int64) {
	sc := &hederapb.StateChanges{ConsensusTimestamp: ts(at)}
	for _, n := range nums {
		topic := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), mustMarshal(b.t, &hederapb.TopicID{TopicNum: n}))
		sc.StateChanges = append(sc.StateChanges, &hederapb.StateChange{StateId: stateTopics, ChangeOperation: &hederapb.StateChange_MapUpdate{
			MapUpdate: &hederapb.MapUpdateChange{
				Key:   &hederapb.MapChangeKey{KeyChoice: &hederapb.MapChangeKey_TopicIdKey{TopicIdKey: &hederapb.TopicID{TopicNum: n}}},
				Value: &hederapb.MapChangeValue{ValueChoice: &hederapb.MapChangeValue_TopicValue{TopicValue: topic}},
			}}})
	}
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_StateChanges{StateChanges: sc}})
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	out, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *blockBuilder) build() *blockstream.Block {
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_BlockFooter{BlockFooter: &hederapb.BlockFooter{
		PreviousBlockRootHash: make([]byte, 48), RootHashOfAllBlockHashesTree: make([]byte, 48), StartOfBlockStateRootHash: make([]byte, 48)}}})
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_BlockProof{BlockProof: &hederapb.BlockProof{Block: 9}}})
	plain := mustMarshal(b.t, &hederapb.Block{Items: b.items})
	blk, err := blockstream.NewReader(blockstream.Limits{}).ParsePlain("0000000000000000009.blk", plain)
	if err != nil {
		b.t.Fatal(err)
	}
	return blk
}

func body(payer int64, validNs int64, data func(*hederapb.TransactionBody)) *hederapb.TransactionBody {
	tb := &hederapb.TransactionBody{TransactionID: &hederapb.TransactionID{
		AccountID: &hederapb.AccountID{Account: &hederapb.AccountID_AccountNum{AccountNum: payer}}, TransactionValidStart: ts(validNs)}}
	data(tb)
	return tb
}

func transfer(tb *hederapb.TransactionBody) {
	tb.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{}}
}

func createTopic(tb *hederapb.TransactionBody) {
	tb.Data = &hederapb.TransactionBody_ConsensusCreateTopic{ConsensusCreateTopic: &hederapb.ConsensusCreateTopicTransactionBody{}}
}

// batchBody is the raw atomic_batch member (74) holding the inner signed
// transactions (AtomicBatchTransactionBody.transactions = 1).
func batchBody(inner ...[]byte) []byte {
	var m []byte
	for _, in := range inner {
		m = protowire.AppendBytes(protowire.AppendTag(m, 1, protowire.BytesType), in)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 74, protowire.BytesType), m)
}

type converted struct {
	at     int64
	rec    *hederapb.TransactionRecord
	body   *hederapb.TransactionBody
	signed []byte
}

func convert(t *testing.T, blk *blockstream.Block) []converted {
	t.Helper()
	items, sum, err := NewConverter().Convert(blk, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Count != len(items) {
		t.Fatalf("count %d, %d items", sum.Count, len(items))
	}
	var out []converted
	for _, it := range items {
		var c converted
		var txn hederapb.Transaction
		var st hederapb.SignedTransaction
		c.rec, c.body = &hederapb.TransactionRecord{}, &hederapb.TransactionBody{}
		for _, err := range []error{proto.Unmarshal(it.Record, c.rec), proto.Unmarshal(it.Transaction, &txn),
			proto.Unmarshal(txn.SignedTransactionBytes, &st), proto.Unmarshal(st.BodyBytes, c.body)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		c.at, c.signed = it.ConsensusNs-1_700_000_000*1e9, txn.SignedTransactionBytes
		out = append(out, c)
	}
	return out
}

// An atomic batch's inner transactions have no signed_transaction items:
// each result after the batch's is one of them, in order, taken from the
// batch body; a system transaction (no result) gets no document; an inner
// transaction without a result ends the batch, so a result after it is
// the next signed transaction's.
func TestBatchAndSystemTransactions(t *testing.T) {
	b := newBlock(t)
	inner1 := b.signed(body(1001, 1, transfer), nil)
	inner2 := b.signed(body(1002, 2, transfer), nil)
	inner3 := b.signed(body(1003, 3, transfer), nil)
	outer := b.signed(body(1000, 0, func(*hederapb.TransactionBody) {}), batchBody(inner1, inner2, inner3))
	system := b.signed(body(3, 4, transfer), nil)
	after := b.signed(body(1004, 5, transfer), nil)
	b.transaction(system) // no result: a system transaction
	b.transaction(outer)
	b.result(10, 0, hederapb.ResponseCodeEnum_SUCCESS)
	b.result(11, 10, hederapb.ResponseCodeEnum_SUCCESS)             // inner1
	b.result(12, 10, hederapb.ResponseCodeEnum_INSUFFICIENT_TX_FEE) // inner2 failed: inner3 never ran
	b.transaction(after)
	b.result(13, 0, hederapb.ResponseCodeEnum_SUCCESS)
	got := convert(t, b.build())
	type row struct {
		at     int64
		payer  int64
		parent bool
		status hederapb.ResponseCodeEnum
	}
	want := []row{{10, 1000, false, 22}, {11, 1001, true, 22}, {12, 1002, true, hederapb.ResponseCodeEnum_INSUFFICIENT_TX_FEE}, {13, 1004, false, 22}}
	if len(got) != len(want) {
		t.Fatalf("%d documents, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.at != w.at || g.body.GetTransactionID().GetAccountID().GetAccountNum() != w.payer ||
			(g.rec.GetParentConsensusTimestamp() != nil) != w.parent || g.rec.GetReceipt().GetStatus() != w.status {
			t.Errorf("document %d: at %d, payer %d, parent %v, status %v; want %+v", i, g.at, g.body.GetTransactionID().GetAccountID().GetAccountNum(),
				g.rec.GetParentConsensusTimestamp(), g.rec.GetReceipt().GetStatus(), w)
		}
	}
	if string(got[1].signed) != string(inner1) || string(got[2].signed) != string(inner2) {
		t.Error("the inner documents do not carry the batch's inner signed transactions")
	}
}

// Creates in one unit (a parent and its children share the parent's state
// changes) take its ids the later the higher, and a failed create takes
// none; a create in another unit takes from its own.
func TestCreatesOfAUnit(t *testing.T) {
	b := newBlock(t)
	b.transaction(b.signed(body(1000, 1, createTopic), nil))
	b.result(10, 0, hederapb.ResponseCodeEnum_SUCCESS)
	b.topics(10, 7002, 7000, 7001)
	b.transaction(b.signed(body(1000, 2, createTopic), nil))
	b.result(11, 10, hederapb.ResponseCodeEnum_SUCCESS)
	b.transaction(b.signed(body(1000, 3, createTopic), nil))
	b.result(12, 10, hederapb.ResponseCodeEnum_INVALID_SIGNATURE)
	b.transaction(b.signed(body(1000, 4, createTopic), nil))
	b.result(13, 10, hederapb.ResponseCodeEnum_SUCCESS)
	b.transaction(b.signed(body(1000, 5, createTopic), nil))
	b.result(14, 0, hederapb.ResponseCodeEnum_SUCCESS)
	b.topics(14, 9000)
	got := convert(t, b.build())
	want := []int64{7000, 7001, 0, 7002, 9000}
	for i, w := range want {
		if n := got[i].rec.GetReceipt().GetTopicID().GetTopicNum(); n != w {
			t.Errorf("create %d: topic %d, want %d", i, n, w)
		}
	}
}

// A block whose items are not where the mirror node reads them (a result
// with no transaction before it) is refused as a whole, naming the item.
func TestOutOfPlace(t *testing.T) {
	b := newBlock(t)
	b.transaction(b.signed(body(1000, 1, transfer), nil))
	b.result(10, 0, hederapb.ResponseCodeEnum_SUCCESS)
	b.result(11, 0, hederapb.ResponseCodeEnum_SUCCESS)
	_, _, err := NewConverter().Convert(b.build(), nil)
	if err == nil || !strings.Contains(err.Error(), "item 5 (transaction_result)") {
		t.Fatalf("error %v; want one naming item 5, the stray result", err)
	}
}

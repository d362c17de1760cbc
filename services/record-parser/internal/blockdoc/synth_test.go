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

// A contract create's sidecars come from the block as the mirror node
// rebuilds them: the contract actions of its EVM trace data, and its
// bytecode from its unit's state changes with the initcode its trace
// data gives as bookends around the runtime bytecode; the record holds
// the EVM result's contract, gas and result.
func TestContractCreateSidecars(t *testing.T) {
	b := newBlock(t)
	contract := &hederapb.ContractID{ShardNum: 0, RealmNum: 0, Contract: &hederapb.ContractID_ContractNum{ContractNum: 1234}}
	b.transaction(b.signed(body(1000, 1, func(tb *hederapb.TransactionBody) {
		tb.Data = &hederapb.TransactionBody_ContractCreateInstance{ContractCreateInstance: &hederapb.ContractCreateTransactionBody{}}
	}), nil))
	b.result(10, 0, hederapb.ResponseCodeEnum_SUCCESS)
	// CreateContractOutput {evm_transaction_result = 1: EvmTransactionResult
	// {contract_id = 2, result_data = 3, gas_used = 5}}.
	var evm []byte
	evm = protowire.AppendBytes(protowire.AppendTag(evm, 2, protowire.BytesType), mustMarshal(t, contract))
	evm = protowire.AppendBytes(protowire.AppendTag(evm, 3, protowire.BytesType), []byte{0xca, 0xfe})
	evm = protowire.AppendVarint(protowire.AppendTag(evm, 5, protowire.VarintType), 21_000)
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_TransactionOutput{TransactionOutput: &hederapb.TransactionOutput{
		Transaction: &hederapb.TransactionOutput_ContractCreate{ContractCreate: &hederapb.CreateContractOutput{EvmTransactionResult: evm}}}}})
	// TraceData.evm_trace_data = 1: EVMTraceData {executed_initcode = 1
	// {initcode_bookends = 2 {deploy = 1, metadata = 2}}, contract_actions = 2}.
	action := mustMarshal(t, &hederapb.ContractAction{Gas: 99, CallDepth: 1})
	var bookends []byte
	bookends = protowire.AppendBytes(protowire.AppendTag(bookends, 1, protowire.BytesType), []byte{0xde})
	bookends = protowire.AppendBytes(protowire.AppendTag(bookends, 2, protowire.BytesType), []byte{0xad})
	initcode := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), bookends)
	var evmTrace []byte
	evmTrace = protowire.AppendBytes(protowire.AppendTag(evmTrace, 1, protowire.BytesType), initcode)
	evmTrace = protowire.AppendBytes(protowire.AppendTag(evmTrace, 2, protowire.BytesType), action)
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_TraceData{TraceData: &hederapb.TraceData{Data: &hederapb.TraceData_EvmTraceData{EvmTraceData: evmTrace}}}})
	// The bytecode state change: Bytecode {code = 1}.
	code := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0x60, 0x80})
	b.add(&hederapb.BlockItem{Item: &hederapb.BlockItem_StateChanges{StateChanges: &hederapb.StateChanges{ConsensusTimestamp: ts(10),
		StateChanges: []*hederapb.StateChange{{StateId: stateBytecode, ChangeOperation: &hederapb.StateChange_MapUpdate{MapUpdate: &hederapb.MapUpdateChange{
			Key:   &hederapb.MapChangeKey{KeyChoice: &hederapb.MapChangeKey_ContractIdKey{ContractIdKey: contract}},
			Value: &hederapb.MapChangeValue{ValueChoice: &hederapb.MapChangeValue_BytecodeValue{BytecodeValue: code}},
		}}}}}}})
	blk := b.build()
	c := NewConverter()
	items, sum, err := c.Convert(blk, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec hederapb.TransactionRecord
	if err := proto.Unmarshal(items[0].Record, &rec); err != nil {
		t.Fatal(err)
	}
	res := rec.GetContractCreateResult()
	if res.GetContractID().GetContractNum() != 1234 || res.GetGasUsed() != 21_000 || string(res.GetContractCallResult()) != "\xca\xfe" ||
		rec.GetReceipt().GetContractID().GetContractNum() != 1234 || sum.GasUsed != 21_000 {
		t.Fatalf("record %v, gas %d", &rec, sum.GasUsed)
	}
	side := c.Sidecars()[items[0].ConsensusNs]
	if len(side) != 2 {
		t.Fatalf("%d sidecar records, want actions and bytecode", len(side))
	}
	if a := side[0].GetActions().GetContractActions(); len(a) != 1 || a[0].GetGas() != 99 {
		t.Errorf("actions %v", side[0])
	}
	bc := side[1].GetBytecode()
	if bc.GetContractId().GetContractNum() != 1234 || string(bc.GetRuntimeBytecode()) != "\x60\x80" || string(bc.GetInitcode()) != "\xde\x60\x80\xad" {
		t.Errorf("bytecode %v", bc)
	}
}

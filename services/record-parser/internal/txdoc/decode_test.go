package txdoc

import (
	"bytes"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
)

// The hand decoder must read what the generated code reads: every fixture
// item and a generated set, compared field by field.
func TestDecoderAgreesWithGeneratedCode(t *testing.T) {
	var items []recordstream.Item
	exp := expected(t)
	names := make([]string, 0, len(exp))
	for rel := range exp {
		names = append(names, rel)
	}
	sort.Strings(names)
	for _, rel := range names {
		items = append(items, readFixture(t, rel).Items...)
	}
	items = append(items, txgen.Items(3000, 9, time.Unix(1700000000, 0))...)
	enc := NewEncoder(Options{})
	for i, it := range items {
		if err := enc.decode(it); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		var tx hederapb.Transaction
		var body hederapb.TransactionBody
		var rec hederapb.TransactionRecord
		if err := proto.Unmarshal(it.Transaction, &tx); err != nil {
			t.Fatal(err)
		}
		switch {
		case len(tx.GetSignedTransactionBytes()) > 0:
			var s hederapb.SignedTransaction
			if err := proto.Unmarshal(tx.GetSignedTransactionBytes(), &s); err != nil {
				t.Fatal(err)
			}
			if err := proto.Unmarshal(s.GetBodyBytes(), &body); err != nil {
				t.Fatal(err)
			}
		//lint:ignore SA1019 the pre-2021 form is what these files hold
		case len(tx.GetBodyBytes()) > 0:
			//lint:ignore SA1019 the pre-2021 form is what these files hold
			if err := proto.Unmarshal(tx.GetBodyBytes(), &body); err != nil {
				t.Fatal(err)
			}
		default:
			//lint:ignore SA1019 the 2019 form is what these files hold
			proto.Merge(&body, tx.GetBody())
		}
		if err := proto.Unmarshal(it.Record, &rec); err != nil {
			t.Fatal(err)
		}
		b, r := &enc.body, &enc.rec
		sameID := func(what string, got eid, acc interface {
			GetShardNum() int64
			GetRealmNum() int64
		}, num int64, present bool) {
			t.Helper()
			if got.set != present || present && (got.shard != acc.GetShardNum() || got.realm != acc.GetRealmNum() || got.num != num) {
				t.Errorf("item %d %s: %+v, generated %v", i, what, got, acc)
			}
		}
		if fd := body.ProtoReflect().WhichOneof(dataOneof); fd == nil || int(fd.Number()) != b.typeNum {
			t.Errorf("item %d: type %d, generated %v", i, b.typeNum, fd)
		}
		if b.fee != body.GetTransactionFee() || !bytes.Equal(b.memo, body.GetMemo()) || b.duration != body.GetTransactionValidDuration().GetSeconds() {
			t.Errorf("item %d: body fee/memo/duration differ", i)
		}
		sameID("node", b.node, body.GetNodeAccountID(), body.GetNodeAccountID().GetAccountNum(), body.GetNodeAccountID() != nil)
		rid := rec.GetTransactionID()
		if r.id.validSec != rid.GetTransactionValidStart().GetSeconds() || r.id.validNano != int64(rid.GetTransactionValidStart().GetNanos()) || r.id.nonce != int64(rid.GetNonce()) || r.id.scheduled != rid.GetScheduled() {
			t.Errorf("item %d: transaction id %+v, generated %v", i, r.id, rid)
		}
		sameID("payer", r.id.account, rid.GetAccountID(), rid.GetAccountID().GetAccountNum(), rid.GetAccountID() != nil)
		rc := rec.GetReceipt()
		if r.status != int32(rc.GetStatus()) || r.topicSeq != rc.GetTopicSequenceNumber() || !bytes.Equal(r.topicHash, rc.GetTopicRunningHash()) || r.topicHashVersion != rc.GetTopicRunningHashVersion() {
			t.Errorf("item %d: receipt differs", i)
		}
		sameID("receipt account", r.rAccount, rc.GetAccountID(), rc.GetAccountID().GetAccountNum(), rc.GetAccountID() != nil)
		sameID("receipt contract", r.rContract, rc.GetContractID(), rc.GetContractID().GetContractNum(), rc.GetContractID() != nil)
		sameID("receipt file", r.rFile, rc.GetFileID(), rc.GetFileID().GetFileNum(), rc.GetFileID() != nil)
		if r.fee != rec.GetTransactionFee() || !bytes.Equal(r.hash, rec.GetTransactionHash()) || !bytes.Equal(r.ethHash, rec.GetEthereumHash()) {
			t.Errorf("item %d: record fee/hash differ", i)
		}
		if aas := rec.GetTransferList().GetAccountAmounts(); len(aas) != len(r.transfers) {
			t.Errorf("item %d: %d transfers, generated %d", i, len(r.transfers), len(aas))
		} else {
			for k, aa := range aas {
				got := r.transfers[k]
				sameID("transfer", got.account, aa.GetAccountID(), aa.GetAccountID().GetAccountNum(), true)
				if got.amount != aa.GetAmount() || got.approval != aa.GetIsApproval() {
					t.Errorf("item %d transfer %d: %+v, generated %v", i, k, got, aa)
				}
			}
		}
		nTok, nNft := 0, 0
		for _, tl := range rec.GetTokenTransferLists() {
			nTok += len(tl.GetTransfers())
			nNft += len(tl.GetNftTransfers())
		}
		if nTok != len(r.tokenTransfers) || nNft != len(r.nfts) || len(rec.GetPaidStakingRewards()) != len(r.stakingRewards) {
			t.Errorf("item %d: token/nft/reward counts differ", i)
		}
		cr := rec.GetContractCallResult()
		if cr == nil {
			cr = rec.GetContractCreateResult()
		}
		if r.hasResult != (cr != nil) || r.resGasUsed != cr.GetGasUsed() || !bytes.Equal(r.resCallResult, cr.GetContractCallResult()) || !bytes.Equal(r.resError, cr.GetErrorMessage()) {
			t.Errorf("item %d: contract result differs", i)
		}
		if p := rec.GetParentConsensusTimestamp(); r.hasParent != (p != nil) || r.parentSec != p.GetSeconds() || r.parentNano != int64(p.GetNanos()) {
			t.Errorf("item %d: parent differs", i)
		}
		if r.scheduled != (rec.GetScheduleRef() != nil) || len(r.assessed) != len(rec.GetAssessedCustomFees()) {
			t.Errorf("item %d: scheduleRef or assessed custom fees differ", i)
		}
		for k, f := range rec.GetAssessedCustomFees() {
			got := r.assessed[k]
			sameID("fee collector", got.collector, f.GetFeeCollectorAccountId(), f.GetFeeCollectorAccountId().GetAccountNum(), f.GetFeeCollectorAccountId() != nil)
			if got.amount != f.GetAmount() || got.payersTo-got.payersFrom != len(f.GetEffectivePayerAccountId()) {
				t.Errorf("item %d assessed fee %d: %+v, generated %v", i, k, got, f)
			}
		}
		if b.hasBatchKey != (body.GetBatchKey() != nil) || len(b.maxFees) != len(body.GetMaxCustomFees()) {
			t.Errorf("item %d: batch_key or max_custom_fees differ", i)
		}
		if m := body.GetConsensusSubmitMessage(); m != nil {
			sameID("topic", b.topic, m.GetTopicID(), m.GetTopicID().GetTopicNum(), m.GetTopicID() != nil)
			if !bytes.Equal(b.message, m.GetMessage()) {
				t.Errorf("item %d: message differs", i)
			}
		}
		if eth := body.GetEthereumTransaction(); eth != nil {
			if !bytes.Equal(b.ethData, eth.GetEthereumData()) || b.allowance != eth.GetMaxGasAllowance() {
				t.Errorf("item %d: ethereum body differs", i)
			}
			sameID("call data", b.callData, eth.GetCallData(), eth.GetCallData().GetFileNum(), eth.GetCallData() != nil)
		}
	}
}

var dataOneof = (&hederapb.TransactionBody{}).ProtoReflect().Descriptor().Oneofs().ByName("data")

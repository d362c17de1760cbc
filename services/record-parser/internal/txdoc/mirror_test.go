package txdoc

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// The rules below are the mirror node's (hiero-ledger/hiero-mirror-node):
// its importer's transaction handlers and EntityRecordItemListener decide
// what is stored, its REST API (rest/transactions.js, rest/viewmodel,
// rest/api/v1/openapi.yml) how it is served. Each case builds the
// transaction and record the rule is about, and states the value the
// rule's source gives.

// A built transaction: body and record as the network writes them.
type built struct {
	body *hederapb.TransactionBody
	rec  *hederapb.TransactionRecord
	// extra is appended to the body's bytes: fields the generated code
	// cannot express (an unknown member, a batch key's contents).
	extra []byte
}

var (
	payer     = int64(1001)
	validNs   = time.Date(2024, 5, 1, 11, 59, 58, 0, time.UTC).UnixNano()
	consensus = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()
)

func acct(n int64) *hederapb.AccountID {
	return &hederapb.AccountID{Account: &hederapb.AccountID_AccountNum{AccountNum: n}}
}

func aliasAcct(alias []byte) *hederapb.AccountID {
	return &hederapb.AccountID{Account: &hederapb.AccountID_Alias{Alias: alias}}
}

func contract(n int64) *hederapb.ContractID {
	return &hederapb.ContractID{Contract: &hederapb.ContractID_ContractNum{ContractNum: n}}
}

func evmContract(addr []byte) *hederapb.ContractID {
	return &hederapb.ContractID{Contract: &hederapb.ContractID_EvmAddress{EvmAddress: addr}}
}

func token(n int64) *hederapb.TokenID { return &hederapb.TokenID{TokenNum: n} }

func timestamp(ns int64) *hederapb.Timestamp {
	return &hederapb.Timestamp{Seconds: ns / 1e9, Nanos: int32(ns % 1e9)}
}

// newTx is a transaction of payer 0.0.1001 through node 0.0.3 with the
// given data member, and its record with status.
func newTx(status hederapb.ResponseCodeEnum) built {
	id := &hederapb.TransactionID{TransactionValidStart: timestamp(validNs), AccountID: acct(payer)}
	return built{
		body: &hederapb.TransactionBody{TransactionID: id, NodeAccountID: acct(3), TransactionFee: 100_000_000,
			TransactionValidDuration: &hederapb.Duration{Seconds: 120}},
		rec: &hederapb.TransactionRecord{Receipt: &hederapb.TransactionReceipt{Status: status}, TransactionID: id,
			TransactionFee: 83_000, TransactionHash: bytes.Repeat([]byte{7}, 48)},
	}
}

func (b built) item(t *testing.T, ns int64) recordstream.Item {
	t.Helper()
	b.rec.ConsensusTimestamp = timestamp(ns)
	bodyBytes, err := proto.Marshal(b.body)
	if err != nil {
		t.Fatal(err)
	}
	bodyBytes = append(bodyBytes, b.extra...)
	signed, err := proto.Marshal(&hederapb.SignedTransaction{BodyBytes: bodyBytes})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := proto.Marshal(&hederapb.Transaction{SignedTransactionBytes: signed})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := proto.Marshal(b.rec)
	if err != nil {
		t.Fatal(err)
	}
	return recordstream.Item{Transaction: tx, Record: rec, ConsensusNs: ns}
}

// encodeAll encodes the items as one file, in order, and returns the
// documents (numbers kept exact).
func encodeAll(t *testing.T, opts Options, items ...recordstream.Item) []map[string]any {
	t.Helper()
	enc := NewEncoder(opts)
	docs := make([]map[string]any, len(items))
	for i, it := range items {
		out, meta := enc.Append(nil, Source{File: "gen.rcd"}, i, it, nil)
		if meta.ParseError != "" {
			t.Fatalf("item %d: %s", i, meta.ParseError)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&docs[i]); err != nil {
			t.Fatalf("item %d: %v: %s", i, err, out)
		}
	}
	return docs
}

func encodeOne(t *testing.T, b built) map[string]any {
	t.Helper()
	return encodeAll(t, Options{}, b.item(t, consensus))[0]
}

// jsonOf re-marshals a decoded value, to compare it with a literal.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestEntityID pins entity_id to what each transaction handler of the
// importer returns from getEntity (importer/src/main/java/org/hiero/
// mirror/importer/parser/record/transactionhandler/*TransactionHandler.java);
// the importer stores EntityId.EMPTY (0.0.0) as null.
func TestEntityID(t *testing.T) {
	evm := bytes.Repeat([]byte{0xab}, 20)
	// The long-zero address of 0.0.7001: 4 bytes of shard, 8 of realm, 8
	// of number (basic_types.proto ContractID.evm_address).
	longZero := append(make([]byte, 12), 0, 0, 0, 0, 0, 0, 0x1b, 0x59)
	cases := []struct {
		name   string
		source string
		build  func(b *built)
		want   any
	}{
		{"token freeze names the account", "TokenFreezeTransactionHandler: EntityId.of(body.getTokenFreeze().getAccount())", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenFreeze{TokenFreeze: &hederapb.TokenFreezeAccountTransactionBody{Token: token(5000), Account: acct(6000)}}
		}, "0.0.6000"},
		{"token unfreeze names the account", "TokenUnfreezeTransactionHandler", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenUnfreeze{TokenUnfreeze: &hederapb.TokenUnfreezeAccountTransactionBody{Token: token(5000), Account: acct(6001)}}
		}, "0.0.6001"},
		{"token grant KYC names the account", "TokenGrantKycTransactionHandler", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenGrantKyc{TokenGrantKyc: &hederapb.TokenGrantKycTransactionBody{Token: token(5000), Account: acct(6002)}}
		}, "0.0.6002"},
		{"token revoke KYC names the account", "TokenRevokeKycTransactionHandler", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenRevokeKyc{TokenRevokeKyc: &hederapb.TokenRevokeKycTransactionBody{Token: token(5000), Account: acct(6003)}}
		}, "0.0.6003"},
		{"contract call by EVM address is the receipt's contract", "ContractCallTransactionHandler: entityIdService.lookup(receipt contractID, body contractID)", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_ContractCall{ContractCall: &hederapb.ContractCallTransactionBody{ContractID: evmContract(evm)}}
			b.rec.Receipt.ContractID = contract(7000)
		}, "0.0.7000"},
		{"contract call by long-zero address, no receipt contract", "EntityIdService.lookup: a long-zero address is its number", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_ContractCall{ContractCall: &hederapb.ContractCallTransactionBody{ContractID: evmContract(longZero)}}
		}, "0.0.7001"},
		{"contract call by unknown EVM address, no receipt contract", "EntityIdService.lookup finds nothing: EMPTY", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_ContractCall{ContractCall: &hederapb.ContractCallTransactionBody{ContractID: evmContract(evm)}}
		}, nil},
		{"contract update by EVM address", "ContractUpdateTransactionHandler: lookup(receipt, body)", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_ContractUpdateInstance{ContractUpdateInstance: &hederapb.ContractUpdateTransactionBody{ContractID: evmContract(evm)}}
			b.rec.Receipt.ContractID = contract(7002)
		}, "0.0.7002"},
		{"contract delete by EVM address", "ContractDeleteTransactionHandler: lookup(receipt, body)", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_ContractDeleteInstance{ContractDeleteInstance: &hederapb.ContractDeleteTransactionBody{ContractID: evmContract(evm)}}
			b.rec.Receipt.ContractID = contract(7003)
		}, "0.0.7003"},
		{"contract delete by number, no receipt contract", "lookup(receipt, body): the body's", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_ContractDeleteInstance{ContractDeleteInstance: &hederapb.ContractDeleteTransactionBody{ContractID: contract(7004)}}
		}, "0.0.7004"},
		{"ethereum transaction is the result's contract, not the receipt's", "EthereumTransactionHandler: EntityId.of(create result or call result contractID)", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_EthereumTransaction{EthereumTransaction: &hederapb.EthereumTransactionBody{EthereumData: []byte{1}}}
			b.rec.Receipt.ContractID = contract(8000)
			b.rec.Body = &hederapb.TransactionRecord_ContractCallResult{ContractCallResult: &hederapb.ContractFunctionResult{ContractID: contract(8001)}}
		}, "0.0.8001"},
		{"ethereum transaction without a result", "EntityId.of(default ContractID) is EMPTY", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_EthereumTransaction{EthereumTransaction: &hederapb.EthereumTransactionBody{EthereumData: []byte{1}}}
			b.rec.Receipt.ContractID = contract(8000)
		}, nil},
		{"crypto add live hash", "CryptoAddLiveHashTransactionHandler: liveHash.accountId", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_CryptoAddLiveHash{CryptoAddLiveHash: &hederapb.CryptoAddLiveHashTransactionBody{LiveHash: &hederapb.LiveHash{AccountId: acct(1500), Hash: []byte{1}}}}
		}, "0.0.1500"},
		{"crypto delete live hash", "CryptoDeleteLiveHashTransactionHandler: accountOfLiveHash", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_CryptoDeleteLiveHash{CryptoDeleteLiveHash: &hederapb.CryptoDeleteLiveHashTransactionBody{AccountOfLiveHash: acct(1501)}}
		}, "0.0.1501"},
		{"freeze with an upgrade file", "FreezeTransactionHandler: EntityId.of(update_file)", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_Freeze{Freeze: &hederapb.FreezeTransactionBody{UpdateFile: &hederapb.FileID{FileNum: 150}}}
		}, "0.0.150"},
		{"freeze without one", "EntityId.of(default FileID) is EMPTY", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_Freeze{Freeze: &hederapb.FreezeTransactionBody{}}
		}, nil},
		{"node create", "NodeCreateTransactionHandler: EntityId.of(account_id)", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_NodeCreate{NodeCreate: &hederapb.NodeCreateTransactionBody{AccountId: acct(30)}}
		}, "0.0.30"},
		{"node update", "NodeUpdateTransactionHandler: EntityId.of(account_id)", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_NodeUpdate{NodeUpdate: &hederapb.NodeUpdateTransactionBody{NodeId: 4, AccountId: acct(31)}}
		}, "0.0.31"},
		{"node delete", "NodeDeleteTransactionHandler has no getEntity", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_NodeDelete{NodeDelete: &hederapb.NodeDeleteTransactionBody{NodeId: 4}}
		}, nil},
		{"token reject with an owner", "TokenRejectTransactionHandler: the owner", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenReject{TokenReject: &hederapb.TokenRejectTransactionBody{Owner: acct(2222)}}
		}, "0.0.2222"},
		{"token reject without one", "TokenRejectTransactionHandler: the payer", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenReject{TokenReject: &hederapb.TokenRejectTransactionBody{
				Rejections: []*hederapb.TokenReference{{TokenIdentifier: &hederapb.TokenReference_FungibleToken{FungibleToken: token(5)}}}}}
		}, "0.0.1001"},
		{"hook store of an account", "LambdaSStore/HookStore handler: hook_id.entity_id.account_id", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_HookStore{HookStore: &hederapb.HookStoreTransactionBody{HookId: &hederapb.HookId{
				EntityId: &hederapb.HookEntityId{EntityId: &hederapb.HookEntityId_AccountId{AccountId: acct(4444)}}, HookId: 1}}}
		}, "0.0.4444"},
		{"hook store of a contract", "hook_id.entity_id.contract_id", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_HookStore{HookStore: &hederapb.HookStoreTransactionBody{HookId: &hederapb.HookId{
				EntityId: &hederapb.HookEntityId{EntityId: &hederapb.HookEntityId_ContractId{ContractId: contract(4445)}}, HookId: 2}}}
		}, "0.0.4445"},
		{"system delete of a contract", "SystemDeleteTransactionHandler: contractID through the lookup", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_SystemDelete{SystemDelete: &hederapb.SystemDeleteTransactionBody{Id: &hederapb.SystemDeleteTransactionBody_ContractID{ContractID: contract(9)}}}
		}, "0.0.9"},
		{"system undelete of a file", "SystemUndeleteTransactionHandler: fileID", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_SystemUndelete{SystemUndelete: &hederapb.SystemUndeleteTransactionBody{Id: &hederapb.SystemUndeleteTransactionBody_FileID{FileID: &hederapb.FileID{FileNum: 111}}}}
		}, "0.0.111"},
		{"crypto update of an alias", "CryptoUpdateTransactionHandler: EntityId.of(accountIDToUpdate), 0.0.0 for an alias: EMPTY", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_CryptoUpdateAccount{CryptoUpdateAccount: &hederapb.CryptoUpdateTransactionBody{AccountIDToUpdate: aliasAcct(evm)}}
		}, nil},
		{"file append of 0.0.0", "EntityId.of gives EMPTY, stored as null", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_FileAppend{FileAppend: &hederapb.FileAppendTransactionBody{FileID: &hederapb.FileID{}}}
		}, nil},
		{"token create", "TokenCreateTransactionHandler: the receipt's token", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenCreation{TokenCreation: &hederapb.TokenCreateTransactionBody{}}
			b.rec.Receipt.TokenID = token(5555)
		}, "0.0.5555"},
		{"crypto transfer", "CryptoTransferTransactionHandler has no getEntity", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{}}
		}, nil},
		{"approve allowance", "CryptoApproveAllowanceTransactionHandler has no getEntity", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_CryptoApproveAllowance{CryptoApproveAllowance: &hederapb.CryptoApproveAllowanceTransactionBody{}}
		}, nil},
		{"ledger id publication", "LedgerIdPublicationTransactionHandler has no getEntity", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_LedgerIdPublication{LedgerIdPublication: &hederapb.LedgerIdPublicationTransactionBody{LedgerId: bytes.Repeat([]byte{1}, 32)}}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTx(hederapb.ResponseCodeEnum_SUCCESS)
			c.build(&b)
			doc := encodeOne(t, b)
			if got := doc["entity_id"]; got != c.want {
				t.Errorf("entity_id = %v, want %v (%s)", got, c.want, c.source)
			}
		})
	}
}

// TestNames pins name to the REST API's (rest/model/transactionType.js,
// openapi TransactionTypes) for the HAPI TransactionBody.data members
// (hiero-consensus-node hapi transaction.proto), and type to the member's
// number, which the importer stores (RecordItem.parseTransactionType).
func TestNames(t *testing.T) {
	// unknown appends fields the HAPI protobufs do not define.
	unknown := func(nums ...protowire.Number) func(*built) {
		return func(b *built) {
			for _, n := range nums {
				b.extra = protowire.AppendTag(b.extra, n, protowire.BytesType)
				b.extra = protowire.AppendBytes(b.extra, []byte{0x08, 0x01})
			}
		}
	}
	cases := []struct {
		name  string
		build func(*built)
		want  string
		typ   int64
	}{
		{"60 token claim airdrop", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_TokenClaimAirdrop{TokenClaimAirdrop: &hederapb.TokenClaimAirdropTransactionBody{}}
		}, "TOKENCLAIMAIRDROP", 60},
		// 65..72 are not in the mirror node's names: UNKNOWN.
		{"65 state signature", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_StateSignatureTransaction{StateSignatureTransaction: &hederapb.StateSignatureTransaction{}}
		}, "UNKNOWN", 65},
		{"66 hinTS preprocessing vote", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_HintsPreprocessingVote{HintsPreprocessingVote: &hederapb.HintsPreprocessingVoteTransactionBody{}}
		}, "UNKNOWN", 66},
		{"72 CRS publication", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_CrsPublication{CrsPublication: &hederapb.CrsPublicationTransactionBody{}}
		}, "UNKNOWN", 72},
		{"74 atomic batch", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_AtomicBatch{AtomicBatch: &hederapb.AtomicBatchTransactionBody{Transactions: [][]byte{{1}}}}
		}, "ATOMICBATCH", 74},
		{"75 hook store", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_HookStore{HookStore: &hederapb.HookStoreTransactionBody{}}
		}, "HOOKSTORE", 75},
		{"76 hook dispatch", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_HookDispatch{HookDispatch: &hederapb.HookDispatchTransactionBody{}}
		}, "UNKNOWN", 76},
		{"77 ledger id publication", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_LedgerIdPublication{LedgerIdPublication: &hederapb.LedgerIdPublicationTransactionBody{
				LedgerId: bytes.Repeat([]byte{2}, 32), NodeContributions: []*hederapb.LedgerIdNodeContribution{{NodeId: 0, Weight: 10, HistoryProofKey: []byte{3}}}}}
		}, "LEDGERIDPUBLICATION", 77},
		{"78 registered node create", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_RegisteredNodeCreate{RegisteredNodeCreate: &hederapb.RegisteredNodeCreateTransactionBody{}}
		}, "REGISTEREDNODECREATE", 78},
		{"79 registered node update", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_RegisteredNodeUpdate{RegisteredNodeUpdate: &hederapb.RegisteredNodeUpdateTransactionBody{}}
		}, "REGISTEREDNODEUPDATE", 79},
		{"80 registered node delete", func(b *built) {
			b.body.Data = &hederapb.TransactionBody_RegisteredNodeDelete{RegisteredNodeDelete: &hederapb.RegisteredNodeDeleteTransactionBody{}}
		}, "REGISTEREDNODEDELETE", 80},
		// A member newer than ours: the one unknown field's number.
		{"81, one unknown field", unknown(81), "UNKNOWN", 81},
		{"two unknown fields", unknown(90, 91), "UNKNOWN", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTx(hederapb.ResponseCodeEnum_SUCCESS)
			c.build(&b)
			doc := encodeOne(t, b)
			if doc["name"] != c.want || doc["type"] != json.Number(strconv.FormatInt(c.typ, 10)) {
				t.Errorf("name %v type %v, want %s %d", doc["name"], doc["type"], c.want, c.typ)
			}
		})
	}
}

// TestIsApproval pins is_approval to the body's approved transfers, as
// EntityRecordItemListener derives it (records do not carry it).
func TestIsApproval(t *testing.T) {
	b := newTx(hederapb.ResponseCodeEnum_SUCCESS)
	owner, spenderTo, other := int64(2001), int64(2002), int64(2003)
	tok, tok2 := token(3000), token(3001)
	b.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{
		Transfers: &hederapb.TransferList{AccountAmounts: []*hederapb.AccountAmount{
			{AccountID: acct(owner), Amount: -500, IsApproval: true},
			{AccountID: acct(spenderTo), Amount: 500, IsApproval: true},
		}},
		TokenTransfers: []*hederapb.TokenTransferList{
			{Token: tok, Transfers: []*hederapb.AccountAmount{
				{AccountID: acct(owner), Amount: -7, IsApproval: true},
				{AccountID: acct(spenderTo), Amount: 7, IsApproval: true},
				{AccountID: acct(other), Amount: -3},
			}},
			{Token: tok2, NftTransfers: []*hederapb.NftTransfer{
				{SenderAccountID: acct(owner), ReceiverAccountID: acct(spenderTo), SerialNumber: 9, IsApproval: true},
			}},
		},
	}}
	b.rec.TransferList = &hederapb.TransferList{AccountAmounts: []*hederapb.AccountAmount{
		{AccountID: acct(3), Amount: 4000},
		{AccountID: acct(98), Amount: 79000},
		{AccountID: acct(payer), Amount: -83000},
		{AccountID: acct(owner), Amount: -500},
		{AccountID: acct(spenderTo), Amount: 500},
	}}
	b.rec.TokenTransferLists = []*hederapb.TokenTransferList{
		{Token: tok, Transfers: []*hederapb.AccountAmount{
			{AccountID: acct(owner), Amount: -7},
			{AccountID: acct(spenderTo), Amount: 7},
			{AccountID: acct(other), Amount: -3},
		}},
		{Token: tok2, NftTransfers: []*hederapb.NftTransfer{
			{SenderAccountID: acct(owner), ReceiverAccountID: acct(spenderTo), SerialNumber: 9},
			{SenderAccountID: acct(owner), ReceiverAccountID: acct(spenderTo), SerialNumber: 10},
		}},
	}
	doc := encodeOne(t, b)
	// insertTransferList: only a debit is looked up in the body (same
	// account and amount), so the approved debit is true and the credit
	// false whatever the body says; the fee transfers are not in the body.
	wantTransfers := `[{"account":"0.0.3","amount":4000,"is_approval":false},{"account":"0.0.98","amount":79000,"is_approval":false},` +
		`{"account":"0.0.1001","amount":-83000,"is_approval":false},{"account":"0.0.2001","amount":-500,"is_approval":true},` +
		`{"account":"0.0.2002","amount":500,"is_approval":false}]`
	if got := jsonOf(t, doc["transfers"]); got != wantTransfers {
		t.Errorf("transfers\n got %s\nwant %s", got, wantTransfers)
	}
	// handleNegativeAccountAmounts: the owner's debit is not equal to the
	// body's (the record's is_approval is false, the body's true), but the
	// body has an approved one of that account: true. The credit is never
	// looked up. 0.0.2003's debit equals the body's unapproved one: false.
	wantTokens := `[{"account":"0.0.2001","amount":-7,"is_approval":true,"token_id":"0.0.3000"},` +
		`{"account":"0.0.2002","amount":7,"is_approval":false,"token_id":"0.0.3000"},` +
		`{"account":"0.0.2003","amount":-3,"is_approval":false,"token_id":"0.0.3000"}]`
	if got := jsonOf(t, doc["token_transfers"]); got != wantTokens {
		t.Errorf("token_transfers\n got %s\nwant %s", got, wantTokens)
	}
	// isApprovalNftTransfer: serial 9 is in the body with is_approval,
	// serial 10 is not: false.
	wantNfts := `[{"is_approval":true,"receiver_account_id":"0.0.2002","sender_account_id":"0.0.2001","serial_number":9,"token_id":"0.0.3001"},` +
		`{"is_approval":false,"receiver_account_id":"0.0.2002","sender_account_id":"0.0.2001","serial_number":10,"token_id":"0.0.3001"}]`
	if got := jsonOf(t, doc["nft_transfers"]); got != wantNfts {
		t.Errorf("nft_transfers\n got %s\nwant %s", got, wantNfts)
	}
}

// TestErrata pins the mirror node's errata for the early mainnet failed
// transfers (docs/database/README.md "Failed Transfers in Record": a
// failed crypto transfer's record listed the transfers it attempted,
// 2019-09-14 to 2019-10-03): EntityRecordItemListener.insertTransferList
// marks a transfer of a failed CRYPTOTRANSFER before 1577836799000000000
// that the body asks for (same account and amount) errata DELETE.
func TestErrata(t *testing.T) {
	period := time.Date(2019, 9, 20, 10, 0, 0, 0, time.UTC).UnixNano()
	failedTransfer := func(status hederapb.ResponseCodeEnum) built {
		b := newTx(status)
		b.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{
			Transfers: &hederapb.TransferList{AccountAmounts: []*hederapb.AccountAmount{
				{AccountID: acct(payer), Amount: -1_000_000},
				{AccountID: acct(51520), Amount: 1_000_000},
			}}}}
		b.rec.TransferList = &hederapb.TransferList{AccountAmounts: []*hederapb.AccountAmount{
			{AccountID: acct(3), Amount: 1796},
			{AccountID: acct(98), Amount: 82867},
			{AccountID: acct(payer), Amount: -84663},
			{AccountID: acct(payer), Amount: -1_000_000},
			{AccountID: acct(51520), Amount: 1_000_000},
		}}
		return b
	}
	marked := `[{"account":"0.0.3","amount":1796,"is_approval":false},{"account":"0.0.98","amount":82867,"is_approval":false},` +
		`{"account":"0.0.1001","amount":-1000000,"errata":"DELETE","is_approval":false},{"account":"0.0.1001","amount":-84663,"is_approval":false},` +
		`{"account":"0.0.51520","amount":1000000,"errata":"DELETE","is_approval":false}]`
	unmarked := `[{"account":"0.0.3","amount":1796,"is_approval":false},{"account":"0.0.98","amount":82867,"is_approval":false},` +
		`{"account":"0.0.1001","amount":-1000000,"is_approval":false},{"account":"0.0.1001","amount":-84663,"is_approval":false},` +
		`{"account":"0.0.51520","amount":1000000,"is_approval":false}]`
	notTransfer := func(b built) built {
		b.body.Data = &hederapb.TransactionBody_CryptoUpdateAccount{CryptoUpdateAccount: &hederapb.CryptoUpdateTransactionBody{AccountIDToUpdate: acct(payer)}}
		return b
	}
	cases := []struct {
		name string
		b    built
		ns   int64
		want string
	}{
		{"failed, in the period", failedTransfer(hederapb.ResponseCodeEnum_INSUFFICIENT_ACCOUNT_BALANCE), period, marked},
		{"failed, the last nanosecond before the cut", failedTransfer(hederapb.ResponseCodeEnum_INSUFFICIENT_ACCOUNT_BALANCE), 1577836799000000000 - 1, marked},
		{"failed, at the cut", failedTransfer(hederapb.ResponseCodeEnum_INSUFFICIENT_ACCOUNT_BALANCE), 1577836799000000000, unmarked},
		{"successful, in the period", failedTransfer(hederapb.ResponseCodeEnum_SUCCESS), period, unmarked},
		{"failed, not a crypto transfer", notTransfer(failedTransfer(hederapb.ResponseCodeEnum_INSUFFICIENT_ACCOUNT_BALANCE)), period, unmarked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := encodeAll(t, Options{}, c.b.item(t, c.ns))[0]
			if got := jsonOf(t, doc["transfers"]); got != c.want {
				t.Errorf("transfers\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestTokenTransfersOnlyWhenCommitted: token and NFT transfers and
// assessed custom fees are stored only for a successful transaction or
// FAIL_INVALID (EntityRecordItemListener.onItem), and a child of an
// unsuccessful parent is unsuccessful whatever its status
// (RecordItem.parseParent, parseSuccess).
func TestTokenTransfersOnlyWhenCommitted(t *testing.T) {
	withTokens := func(status hederapb.ResponseCodeEnum) built {
		b := newTx(status)
		b.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{}}
		b.rec.TokenTransferLists = []*hederapb.TokenTransferList{{Token: token(3000),
			Transfers:    []*hederapb.AccountAmount{{AccountID: acct(payer), Amount: -1}, {AccountID: acct(2), Amount: 1}},
			NftTransfers: []*hederapb.NftTransfer{{SenderAccountID: acct(payer), ReceiverAccountID: acct(2), SerialNumber: 1}}}}
		b.rec.AssessedCustomFees = []*hederapb.AssessedCustomFee{{Amount: 5, FeeCollectorAccountId: acct(900)}}
		return b
	}
	parent := func(status hederapb.ResponseCodeEnum) built {
		b := newTx(status)
		b.body.Data = &hederapb.TransactionBody_ContractCall{ContractCall: &hederapb.ContractCallTransactionBody{ContractID: contract(1002)}}
		return b
	}
	child := func(parentNs int64) built {
		b := withTokens(hederapb.ResponseCodeEnum_SUCCESS)
		b.rec.ParentConsensusTimestamp = timestamp(parentNs)
		b.rec.TransactionID = &hederapb.TransactionID{TransactionValidStart: timestamp(validNs), AccountID: acct(payer), Nonce: 1}
		return b
	}
	has := func(doc map[string]any) bool {
		_, assessed := doc["assessed_custom_fees"]
		n, f := doc["token_transfers"].([]any), doc["nft_transfers"].([]any)
		if (len(n) > 0) != (len(f) > 0) || (len(n) > 0) != assessed {
			t.Fatalf("token %v, nft %v and assessed %v disagree", n, f, assessed)
		}
		return len(n) > 0
	}
	for _, c := range []struct {
		name   string
		status hederapb.ResponseCodeEnum
		want   bool
	}{
		{"SUCCESS", hederapb.ResponseCodeEnum_SUCCESS, true},
		{"FAIL_INVALID", hederapb.ResponseCodeEnum_FAIL_INVALID, true},
		{"INSUFFICIENT_TOKEN_BALANCE", hederapb.ResponseCodeEnum_INSUFFICIENT_TOKEN_BALANCE, false},
	} {
		if got := has(encodeOne(t, withTokens(c.status))); got != c.want {
			t.Errorf("%s: token transfers kept %v, want %v", c.name, got, c.want)
		}
	}

	// A batch: 0 the batch, 1 an inner transaction (child of 0), 2 a child
	// of 1, 3 the next inner transaction, whose parent is found as the
	// parent of the previous item's parent.
	batch := func(status hederapb.ResponseCodeEnum) []map[string]any {
		t0 := consensus
		items := []recordstream.Item{
			parent(status).item(t, t0),
			child(t0).item(t, t0+1),
			child(t0+1).item(t, t0+2),
			child(t0).item(t, t0+3),
		}
		return encodeAll(t, Options{}, items...)
	}
	ok := batch(hederapb.ResponseCodeEnum_SUCCESS)
	reverted := batch(hederapb.ResponseCodeEnum_CONTRACT_REVERT_EXECUTED)
	for i := 1; i < 4; i++ {
		if !has(ok[i]) {
			t.Errorf("item %d of a successful parent lost its token transfers", i)
		}
		if has(reverted[i]) {
			t.Errorf("item %d of a reverted parent kept its token transfers: %v", i, reverted[i]["token_transfers"])
		}
	}
}

// TestFeesAndKeys pins batch_key, max_custom_fees, assessed_custom_fees
// and bytes to the REST API's forms.
func TestFeesAndKeys(t *testing.T) {
	// An Ed25519 Key (ed25519 = 2) for the batch key, set as raw bytes.
	key := append([]byte{0x12, 0x20}, bytes.Repeat([]byte{0xcd}, 32)...)
	b := newTx(hederapb.ResponseCodeEnum_SUCCESS)
	b.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{}}
	b.extra = protowire.AppendBytes(protowire.AppendTag(nil, 73, protowire.BytesType), key)
	b.body.MaxCustomFees = []*hederapb.CustomFeeLimit{
		{AccountId: acct(payer), Fees: []*hederapb.FixedFee{{Amount: 100, DenominatingTokenId: token(2000)}, {Amount: 150}}},
		{AccountId: aliasAcct([]byte{1, 2, 3}), Fees: []*hederapb.FixedFee{{Amount: 5, DenominatingTokenId: token(0)}}},
		{AccountId: acct(1002)},
	}
	b.rec.AssessedCustomFees = []*hederapb.AssessedCustomFee{
		{Amount: 10, FeeCollectorAccountId: acct(900), EffectivePayerAccountId: []*hederapb.AccountID{acct(payer)}},
		{Amount: 5, TokenId: token(3000), FeeCollectorAccountId: acct(800), EffectivePayerAccountId: []*hederapb.AccountID{acct(payer), acct(1002)}},
		{Amount: 4, FeeCollectorAccountId: acct(900)},
	}
	doc := encodeOne(t, b)
	// rest/transactions.js: batch_key is utils.toHexString(batch_key, true).
	if want := "0x" + hex.EncodeToString(key); doc["batch_key"] != want {
		t.Errorf("batch_key %v, want %s", doc["batch_key"], want)
	}
	// customFeeLimitsViewModel.js: one entry per fixed fee; account_id null
	// unless by number; denominating_token_id null for none or number 0; a
	// limit without fees adds nothing.
	wantMax := `[{"account_id":"0.0.1001","amount":100,"denominating_token_id":"0.0.2000"},` +
		`{"account_id":"0.0.1001","amount":150,"denominating_token_id":null},{"account_id":null,"amount":5,"denominating_token_id":null}]`
	if got := jsonOf(t, doc["max_custom_fees"]); got != wantMax {
		t.Errorf("max_custom_fees\n got %s\nwant %s", got, wantMax)
	}
	// assessedCustomFeeViewModel.js, "order by collector_account_id,
	// amount"; token_id null for hbar; effective_payer_account_ids [] for none.
	wantAssessed := `[{"amount":5,"collector_account_id":"0.0.800","effective_payer_account_ids":["0.0.1001","0.0.1002"],"token_id":"0.0.3000"},` +
		`{"amount":4,"collector_account_id":"0.0.900","effective_payer_account_ids":[],"token_id":null},` +
		`{"amount":10,"collector_account_id":"0.0.900","effective_payer_account_ids":["0.0.1001"],"token_id":null}]`
	if got := jsonOf(t, doc["assessed_custom_fees"]); got != wantAssessed {
		t.Errorf("assessed_custom_fees\n got %s\nwant %s", got, wantAssessed)
	}
	// Without a batch key: null; without limits: [].
	plain := newTx(hederapb.ResponseCodeEnum_SUCCESS)
	plain.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{}}
	pd := encodeOne(t, plain)
	if pd["batch_key"] != nil || jsonOf(t, pd["max_custom_fees"]) != "[]" {
		t.Errorf("batch_key %v, max_custom_fees %v", pd["batch_key"], pd["max_custom_fees"])
	}

	// bytes: the importer stores the Transaction's bytes for node create,
	// update and delete (AbstractNodeTransactionHandler), for others only
	// with persist.transactionBytes (default false, EntityProperties).
	node := newTx(hederapb.ResponseCodeEnum_SUCCESS)
	node.body.Data = &hederapb.TransactionBody_NodeDelete{NodeDelete: &hederapb.NodeDeleteTransactionBody{NodeId: 4}}
	nodeItem, plainItem := node.item(t, consensus), plain.item(t, consensus+1)
	docs := encodeAll(t, Options{}, nodeItem, plainItem)
	if docs[0]["bytes"] != base64.StdEncoding.EncodeToString(nodeItem.Transaction) || docs[1]["bytes"] != nil {
		t.Errorf("bytes %v and %v", docs[0]["bytes"], docs[1]["bytes"])
	}
	docs = encodeAll(t, Options{TransactionBytes: true}, plainItem)
	if docs[0]["bytes"] != base64.StdEncoding.EncodeToString(plainItem.Transaction) {
		t.Errorf("bytes with TransactionBytes: %v", docs[0]["bytes"])
	}
}

// TestSignedAndIDs: fees and counters are the importer's signed 64-bit
// columns; transaction_id, valid start and nonce are the body's
// transaction id's, scheduled is the record's scheduleRef
// (EntityRecordItemListener.buildTransaction).
func TestSignedAndIDs(t *testing.T) {
	b := newTx(hederapb.ResponseCodeEnum_SUCCESS)
	b.body.TransactionFee = math.MaxUint64
	b.body.TransactionID.Nonce = 2
	b.body.Data = &hederapb.TransactionBody_ConsensusSubmitMessage{ConsensusSubmitMessage: &hederapb.ConsensusSubmitMessageTransactionBody{
		TopicID: &hederapb.TopicID{TopicNum: 77}, Message: []byte("m")}}
	b.rec.TransactionFee = 1 << 63
	b.rec.Receipt.TopicSequenceNumber = math.MaxUint64 - 1
	b.rec.ScheduleRef = &hederapb.ScheduleID{ScheduleNum: 12}
	// A record id that differs from the body's: the body's is served.
	b.rec.TransactionID = &hederapb.TransactionID{TransactionValidStart: timestamp(validNs + 5), AccountID: acct(4), Nonce: 9}
	doc := encodeOne(t, b)
	want := map[string]any{
		"max_fee":                       "-1",
		"charged_tx_fee":                json.Number("-9223372036854775808"),
		"topic_message.sequence_number": json.Number("-2"),
		"transaction_id":                "0.0.1001-1714564798-000000000",
		"valid_start_timestamp":         "1714564798.000000000",
		"nonce":                         json.Number("2"),
		"scheduled":                     true,
	}
	for path, w := range want {
		if got := get(doc, path); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	// scheduled follows scheduleRef, not the id's flag.
	s := newTx(hederapb.ResponseCodeEnum_SUCCESS)
	s.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{}}
	s.rec.TransactionID = &hederapb.TransactionID{TransactionValidStart: timestamp(validNs), AccountID: acct(payer), Scheduled: true}
	if d := encodeOne(t, s); d["scheduled"] != false {
		t.Errorf("scheduled without scheduleRef: %v", d["scheduled"])
	}
}

// TestOrder: the REST API serves crypto transfers "order by entity_id,
// amount" and token transfers "order by token_id, account_id"
// (rest/transactions.js); NFT and staking reward transfers as stored.
func TestOrder(t *testing.T) {
	b := newTx(hederapb.ResponseCodeEnum_SUCCESS)
	b.body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: &hederapb.CryptoTransferTransactionBody{}}
	b.rec.TransferList = &hederapb.TransferList{AccountAmounts: []*hederapb.AccountAmount{
		{AccountID: acct(98), Amount: 5}, {AccountID: acct(1001), Amount: -10}, {AccountID: acct(3), Amount: 2},
		{AccountID: acct(3), Amount: 1}, {AccountID: &hederapb.AccountID{ShardNum: 1, Account: &hederapb.AccountID_AccountNum{AccountNum: 2}}, Amount: 2},
	}}
	b.rec.TokenTransferLists = []*hederapb.TokenTransferList{
		{Token: token(3001), Transfers: []*hederapb.AccountAmount{{AccountID: acct(9), Amount: 1}, {AccountID: acct(8), Amount: -1}}},
		{Token: token(3000), Transfers: []*hederapb.AccountAmount{{AccountID: acct(7), Amount: 2}, {AccountID: acct(6), Amount: -2}}},
	}
	doc := encodeOne(t, b)
	wantT := `[{"account":"0.0.3","amount":1,"is_approval":false},{"account":"0.0.3","amount":2,"is_approval":false},` +
		`{"account":"0.0.98","amount":5,"is_approval":false},{"account":"0.0.1001","amount":-10,"is_approval":false},` +
		`{"account":"1.0.2","amount":2,"is_approval":false}]`
	if got := jsonOf(t, doc["transfers"]); got != wantT {
		t.Errorf("transfers\n got %s\nwant %s", got, wantT)
	}
	var tokens []string
	for _, tt := range doc["token_transfers"].([]any) {
		m := tt.(map[string]any)
		tokens = append(tokens, m["token_id"].(string)+"/"+m["account"].(string))
	}
	if want := []string{"0.0.3000/0.0.6", "0.0.3000/0.0.7", "0.0.3001/0.0.8", "0.0.3001/0.0.9"}; !reflect.DeepEqual(tokens, want) {
		t.Errorf("token transfers %v, want %v", tokens, want)
	}
}

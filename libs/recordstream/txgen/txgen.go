// Package txgen generates realistic mixed record items — real Transaction
// and TransactionRecord bytes — for the record-parser's tests and
// benchmark and the devstack's live stream: the mix of types, sizes and
// outcomes of a busy mainnet. Its tests, which decode what it makes, are
// the record-parser's (internal/txdoc).
package txgen

import (
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// Items returns n items with consensus times strictly increasing from
// start (the first at start); the same n, seed and start always give the same bytes. About half
// are crypto transfers (some with token or NFT transfers), a fifth consensus
// submit messages, a tenth contract calls, 5% ethereum transactions, 5%
// token associations and the rest other types; about 3% fail.
//
// As on the network, approved transfers (a spender moving an owner's hbar,
// tokens or NFTs under an allowance) say so in the body's is_approval
// only: records never carry it. A few crypto transfers set the body's
// max_custom_fees or batch_key, and some token transfers are charged an
// assessed custom fee.
func Items(n int, seed int64, start time.Time) []recordstream.Item {
	g := gen{r: rand.New(rand.NewPCG(uint64(seed), 0x7472696275746172))}
	items := make([]recordstream.Item, 0, n)
	ns := start.UnixNano()
	for i := 0; i < n; i++ {
		if i > 0 {
			// Mainnet's gaps are tens of microseconds at load.
			ns += 1 + g.r.Int64N(100_000)
		}
		items = append(items, g.item(ns))
	}
	return items
}

type gen struct{ r *rand.Rand }

func (g *gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func acct(num int64) *hederapb.AccountID {
	return &hederapb.AccountID{Account: &hederapb.AccountID_AccountNum{AccountNum: num}}
}

func ts(ns int64) *hederapb.Timestamp {
	return &hederapb.Timestamp{Seconds: ns / 1e9, Nanos: int32(ns % 1e9)}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		// Only a message with invalid contents fails, and these are built
		// here from valid parts.
		panic("txgen: " + err.Error())
	}
	return b
}

// failures are outcomes a busy network's records show most.
var failures = []hederapb.ResponseCodeEnum{
	hederapb.ResponseCodeEnum_INSUFFICIENT_PAYER_BALANCE,
	hederapb.ResponseCodeEnum_INVALID_SIGNATURE,
	hederapb.ResponseCodeEnum_CONTRACT_REVERT_EXECUTED,
	hederapb.ResponseCodeEnum_TOKEN_NOT_ASSOCIATED_TO_ACCOUNT,
	hederapb.ResponseCodeEnum_INSUFFICIENT_GAS,
}

// unapproved is aa as a record lists it: without is_approval.
func unapproved(aa *hederapb.AccountAmount) *hederapb.AccountAmount {
	return &hederapb.AccountAmount{AccountID: aa.GetAccountID(), Amount: aa.GetAmount()}
}

// recordTokenLists are a body's token transfer lists as the record lists
// them: the same transfers, without is_approval.
func recordTokenLists(body []*hederapb.TokenTransferList) []*hederapb.TokenTransferList {
	out := make([]*hederapb.TokenTransferList, 0, len(body))
	for _, tl := range body {
		rl := &hederapb.TokenTransferList{Token: tl.GetToken()}
		for _, aa := range tl.GetTransfers() {
			rl.Transfers = append(rl.Transfers, unapproved(aa))
		}
		for _, n := range tl.GetNftTransfers() {
			rl.NftTransfers = append(rl.NftTransfers, &hederapb.NftTransfer{SenderAccountID: n.GetSenderAccountID(), ReceiverAccountID: n.GetReceiverAccountID(), SerialNumber: n.GetSerialNumber()})
		}
		out = append(out, rl)
	}
	return out
}

func (g *gen) item(ns int64) recordstream.Item {
	r := g.r
	payer := 1000 + r.Int64N(2_000_000)
	node := 3 + r.Int64N(25)
	validNs := ns - int64(time.Second) - r.Int64N(int64(5*time.Second))
	txid := &hederapb.TransactionID{TransactionValidStart: ts(validNs), AccountID: acct(payer)}
	body := &hederapb.TransactionBody{
		TransactionID:            txid,
		NodeAccountID:            acct(node),
		TransactionFee:           uint64(100_000_000 + r.Int64N(5)*100_000_000),
		TransactionValidDuration: &hederapb.Duration{Seconds: 120},
	}
	if r.IntN(4) == 0 {
		body.Memo = g.bytes(4 + r.IntN(40))
	}
	status := hederapb.ResponseCodeEnum_SUCCESS
	if r.IntN(100) < 3 {
		status = failures[r.IntN(len(failures))]
	}
	fee := int64(50_000 + r.Int64N(2_000_000))
	rec := &hederapb.TransactionRecord{
		Receipt:            &hederapb.TransactionReceipt{Status: status},
		TransactionHash:    g.bytes(48),
		ConsensusTimestamp: ts(ns),
		TransactionID:      txid,
		TransactionFee:     uint64(fee),
	}
	// Fees go to the node, the fee account 0.0.98 and the staking reward
	// accounts 0.0.800/0.0.801, in the order the network lists them.
	nodeFee := fee / 20
	transfers := []*hederapb.AccountAmount{
		{AccountID: acct(node), Amount: nodeFee},
		{AccountID: acct(98), Amount: fee - nodeFee - fee/10},
		{AccountID: acct(800), Amount: fee / 10},
		{AccountID: acct(payer), Amount: -fee},
	}
	success := status == hederapb.ResponseCodeEnum_SUCCESS
	switch k := r.IntN(100); {
	case k < 50:
		ct := &hederapb.CryptoTransferTransactionBody{}
		// One transfer in ten moves an owner's hbar, tokens or NFT under
		// an allowance the payer (the spender) holds.
		approved := r.IntN(10) == 0
		from := payer
		if approved {
			from = 1000 + r.Int64N(2_000_000)
		}
		if success || r.IntN(2) == 0 {
			to := 1000 + r.Int64N(2_000_000)
			amt := 1 + r.Int64N(10_000_000_000)
			hbar := []*hederapb.AccountAmount{{AccountID: acct(from), Amount: -amt, IsApproval: approved}, {AccountID: acct(to), Amount: amt}}
			ct.Transfers = &hederapb.TransferList{AccountAmounts: hbar}
			if success {
				transfers = append(transfers, unapproved(hbar[1]))
				if approved {
					transfers = append(transfers, unapproved(hbar[0]))
				} else {
					transfers[3].Amount -= amt
				}
			}
		}
		switch t := r.IntN(10); {
		case t < 2:
			tok := &hederapb.TokenID{TokenNum: 1_000_000 + r.Int64N(100_000)}
			amt := 1 + r.Int64N(1_000_000)
			to := 1000 + r.Int64N(2_000_000)
			ct.TokenTransfers = []*hederapb.TokenTransferList{{Token: tok, Transfers: []*hederapb.AccountAmount{
				{AccountID: acct(from), Amount: -amt, IsApproval: approved}, {AccountID: acct(to), Amount: amt}}}}
			if success && r.IntN(4) == 0 {
				// A fixed fee of the token's, paid by the sender in hbar.
				collector := 1000 + r.Int64N(2_000_000)
				feeAmt := 1 + r.Int64N(100_000_000)
				rec.AssessedCustomFees = []*hederapb.AssessedCustomFee{{Amount: feeAmt, FeeCollectorAccountId: acct(collector), EffectivePayerAccountId: []*hederapb.AccountID{acct(from)}}}
				transfers = append(transfers, &hederapb.AccountAmount{AccountID: acct(collector), Amount: feeAmt}, &hederapb.AccountAmount{AccountID: acct(from), Amount: -feeAmt})
				if r.IntN(2) == 0 {
					body.MaxCustomFees = []*hederapb.CustomFeeLimit{{AccountId: acct(from), Fees: []*hederapb.FixedFee{{Amount: feeAmt + r.Int64N(100)}}}}
				}
			}
		case t < 3:
			tok := &hederapb.TokenID{TokenNum: 1_000_000 + r.Int64N(100_000)}
			ct.TokenTransfers = []*hederapb.TokenTransferList{{Token: tok, NftTransfers: []*hederapb.NftTransfer{
				{SenderAccountID: acct(from), ReceiverAccountID: acct(1000 + r.Int64N(2_000_000)), SerialNumber: 1 + r.Int64N(10_000), IsApproval: approved}}}}
		}
		if success {
			rec.TokenTransferLists = recordTokenLists(ct.TokenTransfers)
		}
		if r.IntN(50) == 0 {
			// An inner transaction of an atomic batch names the batch key.
			body.BatchKey = &hederapb.Key{}
		}
		body.Data = &hederapb.TransactionBody_CryptoTransfer{CryptoTransfer: ct}
	case k < 70:
		topic := &hederapb.TopicID{TopicNum: 100_000 + r.Int64N(1000)}
		body.Data = &hederapb.TransactionBody_ConsensusSubmitMessage{ConsensusSubmitMessage: &hederapb.ConsensusSubmitMessageTransactionBody{
			TopicID: topic, Message: g.bytes(20 + r.IntN(200))}}
		if success {
			rec.Receipt.TopicSequenceNumber = uint64(1 + r.Int64N(10_000_000))
			rec.Receipt.TopicRunningHash = g.bytes(48)
			rec.Receipt.TopicRunningHashVersion = 3
		}
	case k < 80:
		c := &hederapb.ContractID{Contract: &hederapb.ContractID_ContractNum{ContractNum: 1_000_000 + r.Int64N(10_000)}}
		gas := 50_000 + r.Int64N(1_000_000)
		body.Data = &hederapb.TransactionBody_ContractCall{ContractCall: &hederapb.ContractCallTransactionBody{
			ContractID: c, Gas: gas, FunctionParameters: g.bytes(4 + 32*r.IntN(4))}}
		res := &hederapb.ContractFunctionResult{ContractID: c, GasUsed: uint64(gas / 2), ContractCallResult: g.bytes(32 * r.IntN(3)), Gas: gas, SenderId: acct(payer)}
		if status == hederapb.ResponseCodeEnum_CONTRACT_REVERT_EXECUTED {
			res.ErrorMessage = []byte("0x08c379a0")
		}
		rec.Body = &hederapb.TransactionRecord_ContractCallResult{ContractCallResult: res}
	case k < 85:
		gas := 21_000 + r.Int64N(500_000)
		body.Data = &hederapb.TransactionBody_EthereumTransaction{EthereumTransaction: &hederapb.EthereumTransactionBody{
			EthereumData: g.bytes(110 + r.IntN(150)), MaxGasAllowance: r.Int64N(1_000_000)}}
		c := &hederapb.ContractID{Contract: &hederapb.ContractID_ContractNum{ContractNum: 1_000_000 + r.Int64N(10_000)}}
		rec.Receipt.ContractID = c
		rec.EthereumHash = g.bytes(32)
		rec.Body = &hederapb.TransactionRecord_ContractCallResult{ContractCallResult: &hederapb.ContractFunctionResult{
			ContractID: c, GasUsed: uint64(gas), Gas: gas, SenderId: acct(payer)}}
	case k < 90:
		body.Data = &hederapb.TransactionBody_TokenAssociate{TokenAssociate: &hederapb.TokenAssociateTransactionBody{
			Account: acct(payer), Tokens: []*hederapb.TokenID{{TokenNum: 1_000_000 + r.Int64N(100_000)}}}}
	case k < 94:
		body.Data = &hederapb.TransactionBody_CryptoCreateAccount{CryptoCreateAccount: &hederapb.CryptoCreateTransactionBody{}}
		if success {
			rec.Receipt.AccountID = acct(2_000_000 + r.Int64N(1_000_000))
		}
	case k < 97:
		body.Data = &hederapb.TransactionBody_TokenMint{TokenMint: &hederapb.TokenMintTransactionBody{
			Token: &hederapb.TokenID{TokenNum: 1_000_000 + r.Int64N(100_000)}}}
	default:
		body.Data = &hederapb.TransactionBody_ScheduleSign{ScheduleSign: &hederapb.ScheduleSignTransactionBody{
			ScheduleID: &hederapb.ScheduleID{ScheduleNum: 3_000_000 + r.Int64N(100_000)}}}
	}
	if r.IntN(10) == 0 {
		rec.PaidStakingRewards = []*hederapb.AccountAmount{{AccountID: acct(payer), Amount: r.Int64N(100_000_000)}}
	}
	rec.TransferList = &hederapb.TransferList{AccountAmounts: transfers}

	sigs := &hederapb.SignatureMap{}
	for range 1 + r.IntN(2) {
		sigs.SigPair = append(sigs.SigPair, &hederapb.SignaturePair{PubKeyPrefix: g.bytes(6), Signature: &hederapb.SignaturePair_Ed25519{Ed25519: g.bytes(64)}})
	}
	signed := &hederapb.SignedTransaction{BodyBytes: mustMarshal(body), SigMap: sigs}
	tx := &hederapb.Transaction{SignedTransactionBytes: mustMarshal(signed)}
	return recordstream.Item{Transaction: mustMarshal(tx), Record: mustMarshal(rec), ConsensusNs: ns}
}

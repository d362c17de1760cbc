package txdoc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The hot messages (TransactionBody, TransactionRecord and what documents
// read of them) are decoded here with protowire into flat structs reused
// per Encoder: the generated code allocates every nested message, which
// cost most of an item's time. Field numbers are those of proto/hedera
// (the public HAPI protobufs); a field of a known number but another
// wire type is skipped, as the generated code keeps it as unknown. Nested
// messages the documents do not read (signatures, keys, logs) are skipped
// unchecked.

// eid is any of the id messages: shard = 1, realm = 2, num = 3 and, for
// AccountID and ContractID, alias / evm_address = 4 (a oneof with num).
// hasNum says field 3 was on the wire (the oneof's num case, even 0).
type eid struct {
	shard, realm, num     int64
	alias                 []byte
	hasAlias, hasNum, set bool
}

// amount is an AccountAmount: approval is the message's own is_approval
// (what a body says; records leave it false), isApproval the document's,
// derived from the body as the mirror node does (approval.go).
type amount struct {
	account              eid
	amount               int64
	approval, isApproval bool
	errata               bool // the mirror node's errata DELETE (approval.go)
}

type tokenAmount struct {
	token eid
	amount
}

type nftMove struct {
	token, sender, receiver eid
	serial                  int64
	approval, isApproval    bool
}

// assessedFee is an AssessedCustomFee of the record; its effective payers
// are record.payers[payersFrom:payersTo].
type assessedFee struct {
	amount               int64
	token, collector     eid
	payersFrom, payersTo int
}

type txID struct {
	set                 bool
	validSec, validNano int64
	account             eid
	scheduled           bool
	nonce               int64
}

// body is what documents read of a TransactionBody.
type body struct {
	id          txID
	node        eid
	fee         uint64
	hasDuration bool
	duration    int64
	memo        []byte
	typeNum     int
	data        []byte // the data member's bytes
	batchKey    []byte // the Key message's bytes, when hasBatchKey
	hasBatchKey bool
	maxFees     [][]byte // CustomFeeLimit messages (max_custom_fees = 1001)
	fees        []maxFee // maxFees read by parseMaxFees

	// The transfers a CRYPTOTRANSFER body asks for, which the documents'
	// is_approval and errata come from (approval.go).
	xfers  []amount
	tokens []tokenAmount
	nfts   []nftMove

	// Read from the data member by resolve.
	entity    eid
	topic     eid    // CONSENSUSSUBMITMESSAGE
	message   []byte // CONSENSUSSUBMITMESSAGE
	ethData   []byte // ETHEREUMTRANSACTION
	callData  eid    // ETHEREUMTRANSACTION
	allowance int64  // ETHEREUMTRANSACTION
}

// record is what documents read of a TransactionRecord.
type record struct {
	status                     int32
	rAccount, rFile, rContract eid
	rTopic, rToken, rSchedule  eid
	topicSeq, topicHashVersion uint64
	topicHash                  []byte
	hash                       []byte
	id                         txID
	fee                        uint64
	hasResult                  bool
	resContract                eid
	resCallResult, resError    []byte
	resGasUsed                 uint64
	transfers                  []amount
	tokenTransfers             []tokenAmount
	nfts                       []nftMove
	hasParent                  bool
	parentSec, parentNano      int64
	ethHash                    []byte
	stakingRewards             []amount
	scheduled                  bool // scheduleRef = 12 present
	assessed                   []assessedFee
	payers                     []eid // the assessed fees' effective payers
}

// field is one field of a message: its number, wire type and value.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint value
	b   []byte // bytes value
}

// next reads one field from b; it returns the field and the rest of b.
func next(b []byte) (field, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, nil, protowire.ParseError(n)
	}
	b = b[n:]
	f := field{num: num, typ: typ}
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(b)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(b)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return field{}, nil, protowire.ParseError(n)
	}
	return f, b[n:], nil
}

func parseID(b []byte) (eid, error) {
	id := eid{set: true}
	for len(b) > 0 {
		f, rest, err := next(b)
		if err != nil {
			return id, err
		}
		b = rest
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			id.shard = int64(f.v)
		case f.num == 2 && f.typ == protowire.VarintType:
			id.realm = int64(f.v)
		case f.num == 3 && f.typ == protowire.VarintType:
			id.num, id.alias, id.hasAlias, id.hasNum = int64(f.v), nil, false, true
		case f.num == 4 && f.typ == protowire.BytesType:
			id.num, id.alias, id.hasAlias, id.hasNum = 0, f.b, true, false
		}
	}
	return id, nil
}

func parseTimestamp(b []byte) (sec, nanos int64, err error) {
	for len(b) > 0 {
		f, rest, err := next(b)
		if err != nil {
			return 0, 0, err
		}
		b = rest
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 1:
			sec = int64(f.v)
		case 2:
			nanos = int64(int32(f.v))
		}
	}
	return sec, nanos, nil
}

func parseTxID(b []byte) (txID, error) {
	id := txID{set: true}
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return id, err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			if id.validSec, id.validNano, err = parseTimestamp(f.b); err != nil {
				return id, err
			}
		case f.num == 2 && f.typ == protowire.BytesType:
			if id.account, err = parseID(f.b); err != nil {
				return id, err
			}
		case f.num == 3 && f.typ == protowire.VarintType:
			id.scheduled = f.v != 0
		case f.num == 4 && f.typ == protowire.VarintType:
			id.nonce = int64(int32(f.v))
		}
	}
	return id, nil
}

// isData says whether n is a member of TransactionBody.data in the HAPI
// protobufs: 7..60 but the reserved 30, 65..72 (system transactions) and
// 74..80 (atomic batch, hook store and dispatch, ledger id publication,
// registered nodes). 61..64 are reserved and 73 is batch_key.
func isData(n protowire.Number) bool {
	return n >= 7 && n <= 60 && n != 30 || n >= 65 && n <= 72 || n >= 74 && n <= 80
}

// isBodyField says whether n is one of the other fields of TransactionBody:
// transactionID = 1 … memo = 6, batch_key = 73, max_custom_fees = 1001,
// high_volume = 1002.
func isBodyField(n protowire.Number) bool {
	return n >= 1 && n <= 6 || n == 73 || n == 1001 || n == 1002
}

func (d *body) parse(b []byte) error {
	// Keep the slices' arrays; everything else starts from zero.
	maxFees, fees, xfers, tokens, nfts := d.maxFees[:0], d.fees[:0], d.xfers[:0], d.tokens[:0], d.nfts[:0]
	*d = body{maxFees: maxFees, fees: fees, xfers: xfers, tokens: tokens, nfts: nfts}
	// A data member newer than isData knows is found as the mirror node
	// finds it (common RecordItem.parseTransactionType): when no known
	// member is set, a body with exactly one unknown field is of that
	// field's number.
	var unknown protowire.Number
	var unknownData []byte
	unknowns := 0
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return err
		}
		switch {
		case isData(f.num):
			if f.typ == protowire.BytesType {
				d.typeNum, d.data = int(f.num), f.b
			}
		case !isBodyField(f.num):
			if unknowns == 0 || f.num != unknown {
				unknowns++
			}
			unknown, unknownData = f.num, f.b
		case f.num == 1 && f.typ == protowire.BytesType:
			if d.id, err = parseTxID(f.b); err != nil {
				return fmt.Errorf("transactionID: %w", err)
			}
		case f.num == 2 && f.typ == protowire.BytesType:
			if d.node, err = parseID(f.b); err != nil {
				return fmt.Errorf("nodeAccountID: %w", err)
			}
		case f.num == 3 && f.typ == protowire.VarintType:
			d.fee = f.v
		case f.num == 4 && f.typ == protowire.BytesType:
			d.hasDuration = true
			d.duration = 0
			for r := f.b; len(r) > 0; {
				var g field
				if g, r, err = next(r); err != nil {
					return fmt.Errorf("transactionValidDuration: %w", err)
				}
				if g.num == 1 && g.typ == protowire.VarintType {
					d.duration = int64(g.v)
				}
			}
		case f.num == 6 && f.typ == protowire.BytesType:
			d.memo = f.b
		case f.num == 73 && f.typ == protowire.BytesType:
			d.batchKey, d.hasBatchKey = f.b, true
		case f.num == 1001 && f.typ == protowire.BytesType:
			d.maxFees = append(d.maxFees, f.b)
		}
	}
	if d.typeNum == 0 && unknowns == 1 {
		d.typeNum, d.data = int(unknown), unknownData
	}
	return nil
}

// parseCryptoTransfer reads a CryptoTransferTransactionBody's transfers = 1
// (a TransferList) and tokenTransfers = 2 into xfers, tokens and nfts.
func (d *body) parseCryptoTransfer() error {
	for b := d.data; len(b) > 0; {
		f, rest, err := next(b)
		if err != nil {
			return err
		}
		b = rest
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			err = parseTransferList(f.b, &d.xfers)
		case 2:
			err = parseTokenList(f.b, &d.tokens, &d.nfts)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dataField returns the last length-delimited field num of the data member
// (a body's target id, a message), or nil.
func (d *body) dataField(num protowire.Number) ([]byte, error) {
	return lastBytes(d.data, num)
}

// lastBytes returns the last length-delimited field num of the message in
// b, or nil; an empty present field is a non-nil empty slice.
func lastBytes(b []byte, num protowire.Number) ([]byte, error) {
	var out []byte
	for len(b) > 0 {
		f, rest, err := next(b)
		if err != nil {
			return nil, err
		}
		b = rest
		if f.num == num && f.typ == protowire.BytesType {
			out = f.b
			if out == nil {
				out = []byte{}
			}
		}
	}
	return out, nil
}

// dataID is dataField parsed as an id; the zero eid (unset) when absent.
func (d *body) dataID(num protowire.Number) (eid, error) {
	b, err := d.dataField(num)
	if err != nil || b == nil {
		return eid{}, err
	}
	return parseID(b)
}

// nestedID is the id at field inner of the message at field outer of the
// data member (a LiveHash's account, say); the zero eid when absent.
func (d *body) nestedID(outer, inner protowire.Number) (eid, error) {
	b, err := d.dataField(outer)
	if err != nil || b == nil {
		return eid{}, err
	}
	if b, err = lastBytes(b, inner); err != nil || b == nil {
		return eid{}, err
	}
	return parseID(b)
}

// dataVarint returns the last varint field num of the data member.
func (d *body) dataVarint(num protowire.Number) (uint64, error) {
	var out uint64
	for b := d.data; len(b) > 0; {
		f, rest, err := next(b)
		if err != nil {
			return 0, err
		}
		b = rest
		if f.num == num && f.typ == protowire.VarintType {
			out = f.v
		}
	}
	return out, nil
}

func parseAmount(b []byte) (amount, error) {
	var a amount
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return a, err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			if a.account, err = parseID(f.b); err != nil {
				return a, err
			}
		case f.num == 2 && f.typ == protowire.VarintType:
			a.amount = protowire.DecodeZigZag(f.v)
		case f.num == 3 && f.typ == protowire.VarintType:
			a.approval = f.v != 0
		}
	}
	return a, nil
}

func (r *record) parseReceipt(b []byte) error {
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return err
		}
		if f.typ == protowire.VarintType {
			switch f.num {
			case 1:
				r.status = int32(f.v)
			case 7:
				r.topicSeq = f.v
			case 9:
				r.topicHashVersion = f.v
			}
			continue
		}
		if f.typ != protowire.BytesType {
			continue
		}
		var dst *eid
		switch f.num {
		case 2:
			dst = &r.rAccount
		case 3:
			dst = &r.rFile
		case 4:
			dst = &r.rContract
		case 6:
			dst = &r.rTopic
		case 8:
			r.topicHash = f.b
		case 10:
			dst = &r.rToken
		case 12:
			dst = &r.rSchedule
		}
		if dst != nil {
			if *dst, err = parseID(f.b); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *record) parseResult(b []byte) error {
	r.hasResult = true
	r.resContract, r.resCallResult, r.resError, r.resGasUsed = eid{}, nil, nil, 0
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			if r.resContract, err = parseID(f.b); err != nil {
				return err
			}
		case f.num == 2 && f.typ == protowire.BytesType:
			r.resCallResult = f.b
		case f.num == 3 && f.typ == protowire.BytesType:
			r.resError = f.b
		case f.num == 5 && f.typ == protowire.VarintType:
			r.resGasUsed = f.v
		}
	}
	return nil
}

// parseTokenList appends a TokenTransferList's fungible and NFT transfers,
// each with the list's token, to toks and nfts.
func parseTokenList(b []byte, toks *[]tokenAmount, nfts *[]nftMove) error {
	var token eid
	// The token id may follow its transfers on the wire (never from the
	// network, but legal): attach it once the list is read.
	firstAmount, firstNft := len(*toks), len(*nfts)
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			if token, err = parseID(f.b); err != nil {
				return err
			}
		case 2:
			a, err := parseAmount(f.b)
			if err != nil {
				return err
			}
			*toks = append(*toks, tokenAmount{amount: a})
		case 3:
			n := nftMove{}
			for c := f.b; len(c) > 0; {
				var g field
				if g, c, err = next(c); err != nil {
					return err
				}
				switch {
				case g.num == 1 && g.typ == protowire.BytesType:
					if n.sender, err = parseID(g.b); err != nil {
						return err
					}
				case g.num == 2 && g.typ == protowire.BytesType:
					if n.receiver, err = parseID(g.b); err != nil {
						return err
					}
				case g.num == 3 && g.typ == protowire.VarintType:
					n.serial = int64(g.v)
				case g.num == 4 && g.typ == protowire.VarintType:
					n.approval = g.v != 0
				}
			}
			*nfts = append(*nfts, n)
		}
	}
	for i := firstAmount; i < len(*toks); i++ {
		(*toks)[i].token = token
	}
	for i := firstNft; i < len(*nfts); i++ {
		(*nfts)[i].token = token
	}
	return nil
}

// parseTransferList appends a TransferList's accountAmounts = 1 to dst.
func parseTransferList(b []byte, dst *[]amount) error {
	for len(b) > 0 {
		g, rest, err := next(b)
		if err != nil {
			return err
		}
		b = rest
		if g.num == 1 && g.typ == protowire.BytesType {
			a, err := parseAmount(g.b)
			if err != nil {
				return err
			}
			*dst = append(*dst, a)
		}
	}
	return nil
}

// parseAssessed appends an AssessedCustomFee: amount = 1, token_id = 2,
// fee_collector_account_id = 3, effective_payer_account_id = 4 (repeated).
func (r *record) parseAssessed(b []byte) error {
	fee := assessedFee{payersFrom: len(r.payers)}
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			fee.amount = int64(f.v)
		case f.num == 2 && f.typ == protowire.BytesType:
			if fee.token, err = parseID(f.b); err != nil {
				return err
			}
		case f.num == 3 && f.typ == protowire.BytesType:
			if fee.collector, err = parseID(f.b); err != nil {
				return err
			}
		case f.num == 4 && f.typ == protowire.BytesType:
			id, err := parseID(f.b)
			if err != nil {
				return err
			}
			r.payers = append(r.payers, id)
		}
	}
	fee.payersTo = len(r.payers)
	r.assessed = append(r.assessed, fee)
	return nil
}

func (r *record) parse(b []byte) error {
	// Keep the slices' arrays; everything else starts from zero.
	transfers, tokens, nfts, rewards := r.transfers[:0], r.tokenTransfers[:0], r.nfts[:0], r.stakingRewards[:0]
	assessed, payers := r.assessed[:0], r.payers[:0]
	*r = record{transfers: transfers, tokenTransfers: tokens, nfts: nfts, stakingRewards: rewards, assessed: assessed, payers: payers}
	var err error
	for len(b) > 0 {
		var f field
		if f, b, err = next(b); err != nil {
			return err
		}
		if f.typ == protowire.VarintType {
			if f.num == 6 {
				r.fee = f.v
			}
			continue
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			if err = r.parseReceipt(f.b); err != nil {
				return fmt.Errorf("receipt: %w", err)
			}
		case 2:
			r.hash = f.b
		case 4:
			if r.id, err = parseTxID(f.b); err != nil {
				return fmt.Errorf("transactionID: %w", err)
			}
		case 7, 8:
			if err = r.parseResult(f.b); err != nil {
				return fmt.Errorf("contract result: %w", err)
			}
		case 10:
			// A message field that occurs several times merges: the
			// transfers of every occurrence count.
			if err = parseTransferList(f.b, &r.transfers); err != nil {
				return fmt.Errorf("transferList: %w", err)
			}
		case 11:
			if err = parseTokenList(f.b, &r.tokenTransfers, &r.nfts); err != nil {
				return fmt.Errorf("tokenTransferLists: %w", err)
			}
		case 12:
			r.scheduled = true
		case 13:
			if err = r.parseAssessed(f.b); err != nil {
				return fmt.Errorf("assessed_custom_fees: %w", err)
			}
		case 15:
			r.hasParent = true
			if r.parentSec, r.parentNano, err = parseTimestamp(f.b); err != nil {
				return fmt.Errorf("parent_consensus_timestamp: %w", err)
			}
		case 17:
			r.ethHash = f.b
		case 18:
			a, err := parseAmount(f.b)
			if err != nil {
				return fmt.Errorf("paid_staking_rewards: %w", err)
			}
			r.stakingRewards = append(r.stakingRewards, a)
		}
	}
	return nil
}

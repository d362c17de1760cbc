// Package blockdoc turns a block's transactions into the record-stream
// items the record-parser's documents are made from (txdoc): for each
// transaction the Transaction a record file would hold and a
// TransactionRecord built from its result, outputs, trace data and state
// changes by the mirror node's rules (BlockFileTransformer and its
// transformers). Blocks and record files so go through one encoder and give
// the same documents by construction.
//
// It works on the wire bytes (protowire), copying sub-messages whose
// layout the record shares with the result (transfer lists, token
// transfers, custom fees, …) as they are: no message is decoded into
// generated structs on the hot path.
package blockdoc

import (
	"crypto/sha512"
	"fmt"
	"hash"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// Summary is what a block's transactions say about the block as a whole
// (the REST block object's count, timestamps and gas).
type Summary struct {
	// Count is the number of transactions with a record (results).
	Count int
	// ConsensusStart and ConsensusEnd are the first and the last
	// transaction's consensus times (ns); the block's time without any.
	ConsensusStart, ConsensusEnd int64
	// GasUsed sums the EVM gas of the top-level transactions (children's
	// gas is in their parent's), as the mirror node's block gas_used.
	GasUsed uint64
	// OutOfOrder says the transactions' consensus times do not rise
	// through the block (the mirror node reports it and goes on).
	OutOfOrder bool
}

// Converter converts blocks; it reuses its buffers, so one per goroutine,
// and the items of a Convert are valid until the next.
type Converter struct {
	w       walker
	units   []unit
	unitOf  map[int]int // root transaction → index in units
	arena   []byte
	scratch []byte // one record's receipt, the legacy Transaction hashed
	result  []byte // one record's contract result
	sha     hash.Hash
	outs    [8][]byte // a transaction's last output of each kind
	// sidecars are the contract sidecar records of the last Convert.
	sidecars map[int64][]*hederapb.TransactionSidecarRecord
}

// NewConverter returns a Converter.
func NewConverter() *Converter {
	return &Converter{sha: sha512.New384(), unitOf: map[int]int{}, sidecars: map[int64][]*hederapb.TransactionSidecarRecord{}}
}

// Convert walks b (a block, not a wrapped record block) and appends its
// transactions, in block order, to dst as record-stream items. An error
// says the block's items are not in an order the mirror node reads (or a
// message in them does not decode): the block is refused as a whole.
func (c *Converter) Convert(b *blockstream.Block, dst []recordstream.Item) ([]recordstream.Item, Summary, error) {
	if b.Wrapped {
		return dst, Summary{}, fmt.Errorf("block %d is a wrapped record block: read its record file instead", b.Number())
	}
	c.w = walker{items: b.Items, txs: c.w.txs[:0]}
	clear(c.sidecars)
	if err := c.w.walk(); err != nil {
		return dst, Summary{}, err
	}
	txs := c.w.txs
	if err := c.claims(b); err != nil {
		return dst, Summary{}, err
	}
	sum := Summary{Count: len(txs), ConsensusStart: b.Header.TimestampNs, ConsensusEnd: b.Header.TimestampNs}
	// Offsets first, slices once the arena no longer grows.
	c.arena = c.arena[:0]
	type span struct{ txFrom, recFrom, recTo int }
	spans := make([]span, len(txs))
	for i := range txs {
		t := &txs[i]
		if i == 0 || t.consensusNs < sum.ConsensusStart {
			sum.ConsensusStart = t.consensusNs
		}
		if i == 0 || t.consensusNs > sum.ConsensusEnd {
			sum.ConsensusEnd = t.consensusNs
		}
		if i > 0 && t.consensusNs <= txs[i-1].consensusNs {
			sum.OutOfOrder = true
		}
		spans[i].txFrom = len(c.arena)
		c.arena = c.transaction(c.arena, t)
		spans[i].recFrom = len(c.arena)
		var gas uint64
		var err error
		if c.arena, gas, err = c.record(c.arena, b, i); err != nil {
			return dst, Summary{}, fmt.Errorf("transaction at %s: %w", nsString(t.consensusNs), err)
		}
		if !t.hasParent {
			sum.GasUsed += gas
		}
		spans[i].recTo = len(c.arena)
	}
	for i, s := range spans {
		dst = append(dst, recordstream.Item{
			Transaction: c.arena[s.txFrom:s.recFrom:s.recFrom],
			Record:      c.arena[s.recFrom:s.recTo:s.recTo],
			ConsensusNs: txs[i].consensusNs,
		})
	}
	return dst, sum, nil
}

func nsString(ns int64) string { return fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9) }

// transaction appends the Transaction a record file would hold: the
// signed transaction's bytes as signedTransactionBytes (5), or for one
// marked with the legacy hash algorithm its bodyBytes (4) and sigMap (3).
func (c *Converter) transaction(dst []byte, t *tx) []byte {
	if t.legacyHash {
		return c.legacyTransaction(dst, t)
	}
	return appendBytes(dst, 5, t.signed)
}

func (c *Converter) legacyTransaction(dst []byte, t *tx) []byte {
	// As the mirror node builds it: the sigMap always (an absent one
	// becomes an empty message), the body when not empty.
	dst = appendBytes(dst, 3, t.sigMap)
	if len(t.body) > 0 {
		dst = appendBytes(dst, 4, t.body)
	}
	return dst
}

// transactionHash appends the transaction's hash: SHA-384 of the signed
// transaction's bytes, or of the legacy Transaction.
func (c *Converter) transactionHash(dst []byte, t *tx) []byte {
	c.sha.Reset()
	if t.legacyHash {
		start := len(c.scratch)
		c.scratch = c.legacyTransaction(c.scratch, t)
		c.sha.Write(c.scratch[start:])
		c.scratch = c.scratch[:start]
	} else {
		c.sha.Write(t.signed)
	}
	return c.sha.Sum(dst)
}

// claims gives each create the id its unit's state changes hold and each
// message its topic's state, serving the transactions last to first as
// the mirror node does: within a unit a later create has the higher id.
func (c *Converter) claims(b *blockstream.Block) error {
	clear(c.unitOf)
	c.units = c.units[:0]
	txs := c.w.txs
	for i := len(txs) - 1; i >= 0; i-- {
		t := &txs[i]
		t.claim = claim{}
		if !t.successful {
			continue
		}
		switch t.typeNum {
		case typeFileCreate, typeTopicCreate, typeTokenCreate, typeNodeCreate:
		case typeSubmitMessage:
			if ok, err := c.submitTrace(b, t); ok || err != nil {
				if err != nil {
					return fmt.Errorf("transaction at %s: submit message trace data: %w", nsString(t.consensusNs), err)
				}
				continue
			}
		default:
			continue
		}
		u, err := c.unit(b, i)
		if err != nil {
			return fmt.Errorf("transaction at %s: %w", nsString(t.consensusNs), err)
		}
		switch t.typeNum {
		case typeFileCreate:
			t.claim.receiptField, t.claim.id = 3, popEntity(&u.files)
		case typeTopicCreate:
			t.claim.receiptField, t.claim.id = 6, popEntity(&u.topics)
		case typeTokenCreate:
			t.claim.receiptField, t.claim.id = 10, popEntity(&u.tokens)
		case typeNodeCreate:
			if n := len(u.nodes); n > 0 {
				t.claim.receiptField, t.claim.nodeID = 15, u.nodes[n-1]
				u.nodes = u.nodes[:n-1]
			}
		case typeSubmitMessage:
			topic, err := bytesField(t.data, 1)
			if err != nil {
				return fmt.Errorf("transaction at %s: consensusSubmitMessage: %w", nsString(t.consensusNs), err)
			}
			if s, ok := u.takeTopic(topic); ok {
				t.claim.hasTopic, t.claim.topicSeq, t.claim.topicHash = true, s.seq, s.hash
			}
		}
		if t.claim.receiptField != 0 && t.claim.id == nil && t.typeNum != typeNodeCreate {
			t.claim.receiptField = 0
		}
	}
	return nil
}

// submitTrace takes a message's sequence number and running hash from its
// submit-message trace data (TraceData.submit_message_trace_data = 4:
// sequence_number = 1, running_hash = 2), the first one if several.
func (c *Converter) submitTrace(b *blockstream.Block, t *tx) (bool, error) {
	for i := t.traceFrom; i < t.traceTo; i++ {
		data, err := bytesField(b.Items[i].Payload, 4)
		if err != nil {
			return false, err
		}
		if data == nil {
			continue
		}
		seq, _, err := varintField(data, 1)
		if err != nil {
			return false, err
		}
		hash, err := bytesField(data, 2)
		if err != nil {
			return false, err
		}
		t.claim.hasTopic, t.claim.topicSeq, t.claim.topicHash = true, seq, hash
		return true, nil
	}
	return false, nil
}

// unit is the state-change context of transaction i's unit: that of its
// top-level ancestor, whose state changes hold the whole unit's.
func (c *Converter) unit(b *blockstream.Block, i int) (*unit, error) {
	txs := c.w.txs
	root := i
	for txs[root].parent >= 0 {
		root = txs[root].parent
	}
	if k, ok := c.unitOf[root]; ok {
		return &c.units[k], nil
	}
	if len(c.units) < cap(c.units) {
		c.units = c.units[:len(c.units)+1]
	} else {
		c.units = append(c.units, unit{})
	}
	u := &c.units[len(c.units)-1]
	u.reset()
	if err := u.load(b.Items, txs[root].stateFrom, txs[root].stateTo); err != nil {
		return nil, err
	}
	c.unitOf[root] = len(c.units) - 1
	return u, nil
}

// Fields of the TransactionResult copied into the TransactionRecord, by
// result field number: the message types are the same.
var resultToRecord = [...]protowire.Number{
	3:  15, // parent_consensus_timestamp
	5:  12, // schedule_ref → scheduleRef
	7:  10, // transfer_list → transferList
	8:  11, // token_transfer_lists → tokenTransferLists
	9:  14, // automatic_token_associations
	10: 18, // paid_staking_rewards
	12: 13, // assessed_custom_fees
}

// record appends transaction i's TransactionRecord (and its sidecar
// records to c.sidecars) and returns the gas its EVM result used.
func (c *Converter) record(dst []byte, b *blockstream.Block, i int) ([]byte, uint64, error) {
	t := &c.w.txs[i]
	c.outs = [8][]byte{}
	for i := t.outFrom; i < t.outTo; i++ {
		f, _, err := nextField(b.Items[i].Payload)
		if err != nil {
			return dst, 0, fmt.Errorf("transaction_output: %w", err)
		}
		if f.typ == protowire.BytesType && f.num >= 1 && f.num < protowire.Number(len(c.outs)) {
			c.outs[f.num] = f.b
		}
	}
	c.scratch = c.scratch[:0]
	// The contract result first: it names the receipt's contract.
	result, create, err := c.evmResult(t)
	if err != nil {
		return dst, 0, err
	}
	var contract []byte
	var gas uint64
	var resultMsg []byte
	if result != nil {
		resultMsg, contract, gas, err = c.contractResult(b, t, result)
		if err != nil {
			return dst, 0, err
		}
		if err := c.evmSidecars(b, i, contract); err != nil {
			return dst, 0, err
		}
		if t.typeNum == typeEthereum && gas == 0 {
			contract = nil
		}
	}
	// receipt = 1
	receiptStart := len(c.scratch)
	if c.scratch, err = c.receipt(c.scratch, t, contract); err != nil {
		return dst, 0, err
	}
	dst = appendBytes(dst, 1, c.scratch[receiptStart:])
	// transactionHash = 2
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendVarint(dst, sha512.Size384)
	dst = c.transactionHash(dst, t)
	// consensusTimestamp = 3, transactionID = 4, memo = 5
	dst = appendBytes(dst, 3, t.consensus)
	if t.txID != nil {
		dst = appendBytes(dst, 4, t.txID)
	}
	if len(t.memo) > 0 {
		dst = appendBytes(dst, 5, t.memo)
	}
	// contractCallResult = 7 / contractCreateResult = 8
	if resultMsg != nil {
		num := protowire.Number(7)
		if create {
			num = 8
		}
		dst = appendBytes(dst, num, resultMsg)
	}
	it := fields{buf: t.result}
	var f field
	for it.next(&f) {
		switch {
		case f.num == 6 && f.typ == protowire.VarintType:
			dst = appendVarint(dst, 6, f.v) // transaction_fee_charged → transactionFee
		case f.typ == protowire.BytesType && int(f.num) < len(resultToRecord) && resultToRecord[f.num] != 0:
			dst = appendBytes(dst, resultToRecord[f.num], f.b)
		}
	}
	if it.err != nil {
		return dst, 0, fmt.Errorf("transaction_result: %w", it.err)
	}
	if t.typeNum == typeEthereum {
		// ethereum_hash = 17: Keccak-256 of the Ethereum transaction, as
		// the mirror node computes it when the record has none; one whose
		// call data is in a file (call_data = 2) needs that file's
		// contents, which the block does not hold: left out.
		data, err := bytesField(t.data, 1)
		if err != nil {
			return dst, 0, fmt.Errorf("ethereumTransaction: %w", err)
		}
		file, err := bytesField(t.data, 2)
		if err != nil {
			return dst, 0, fmt.Errorf("ethereumTransaction: %w", err)
		}
		if len(data) > 0 && file == nil {
			h := keccak256(data)
			dst = appendBytes(dst, 17, h[:])
		}
	}
	if t.typeNum == typeUtilPrng && t.successful {
		// UtilPrngOutput (output 1): prng_bytes = 1 → 19, prng_number = 2 → 20.
		it := fields{buf: c.outs[1]}
		for it.next(&f) {
			switch {
			case f.num == 1 && f.typ == protowire.BytesType:
				dst = appendBytes(dst, 19, f.b)
			case f.num == 2 && f.typ == protowire.VarintType:
				dst = appendVarint(dst, 20, f.v)
			}
		}
		if it.err != nil {
			return dst, 0, fmt.Errorf("util_prng output: %w", it.err)
		}
	}
	return dst, gas, nil
}

// receipt appends the TransactionReceipt's fields.
func (c *Converter) receipt(dst []byte, t *tx, contract []byte) ([]byte, error) {
	if t.status != 0 {
		dst = appendVarint(dst, 1, uint64(t.status))
	}
	if t.typeNum == typeCryptoCreate && t.successful {
		// CreateAccountOutput (output 7): created_account_id = 1.
		id, err := bytesField(c.outs[7], 1)
		if err != nil {
			return dst, fmt.Errorf("account_create output: %w", err)
		}
		if id != nil {
			dst = appendBytes(dst, 2, id)
		}
	}
	if contract != nil {
		dst = appendBytes(dst, 4, contract)
	}
	switch {
	case t.claim.receiptField == 15:
		dst = appendVarint(dst, 15, t.claim.nodeID)
	case t.claim.receiptField != 0:
		dst = appendBytes(dst, t.claim.receiptField, t.claim.id)
	}
	if t.typeNum == typeSubmitMessage && t.successful {
		// topicSequenceNumber = 7, topicRunningHash = 8, version = 9 (3
		// for every message of a block).
		if t.claim.hasTopic {
			dst = appendVarint(dst, 7, t.claim.topicSeq)
			dst = appendBytes(dst, 8, t.claim.topicHash)
		}
		dst = appendVarint(dst, 9, 3)
	}
	switch t.typeNum {
	case typeScheduleCreate:
		if t.successful || t.status == statusIdenticalSchedule {
			// CreateScheduleOutput (output 5): schedule_id = 1 → scheduleID
			// = 12, scheduled_transaction_id = 2 → 13.
			id, err := bytesField(c.outs[5], 1)
			if err != nil {
				return dst, fmt.Errorf("create_schedule output: %w", err)
			}
			if id != nil {
				dst = appendBytes(dst, 12, id)
			}
			sched, err := bytesField(c.outs[5], 2)
			if err != nil {
				return dst, fmt.Errorf("create_schedule output: %w", err)
			}
			if sched != nil {
				dst = appendBytes(dst, 13, sched)
			}
		}
	case typeScheduleSign:
		if t.successful {
			// SignScheduleOutput (output 6): scheduled_transaction_id = 1.
			sched, err := bytesField(c.outs[6], 1)
			if err != nil {
				return dst, fmt.Errorf("sign_schedule output: %w", err)
			}
			if sched != nil {
				dst = appendBytes(dst, 13, sched)
			}
		}
	case typeTokenMint:
		if t.successful {
			var err error
			if dst, err = c.mintedSerials(dst, t); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

// mintedSerials appends serialNumbers (14, packed): the serial numbers of
// the result's NFT transfers, sorted.
func (c *Converter) mintedSerials(dst []byte, t *tx) ([]byte, error) {
	var serials []int64
	it := fields{buf: t.result}
	var f field
	for it.next(&f) {
		if f.num != 8 || f.typ != protowire.BytesType {
			continue
		}
		// TokenTransferList.nftTransfers = 3 {serialNumber = 3}.
		lists := fields{buf: f.b}
		var g field
		for lists.next(&g) {
			if g.num != 3 || g.typ != protowire.BytesType {
				continue
			}
			n, _, err := varintField(g.b, 3)
			if err != nil {
				return dst, err
			}
			serials = append(serials, int64(n))
		}
		if lists.err != nil {
			return dst, lists.err
		}
	}
	if it.err != nil {
		return dst, it.err
	}
	if len(serials) == 0 {
		return dst, nil
	}
	slices.Sort(serials)
	var packed []byte
	for _, s := range serials {
		packed = protowire.AppendVarint(packed, uint64(s))
	}
	return appendBytes(dst, 14, packed), nil
}

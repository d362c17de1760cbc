// Package txdoc turns one record item (Transaction and TransactionRecord
// bytes) into one JSON document shaped like the mirror node REST API's
// transaction object, plus the record-parser's own fields. It is the
// record-parser's hot path: the messages are read with protowire into
// flat structs reused per Encoder (decode.go) and documents appended to a
// caller's buffer, with no reflection, no maps and one allocation an item.
package txdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// Source is what a document records about the file it came from.
type Source struct {
	File        string // record file name, e.g. 2022-07-13T08_46_11.304284003Z.rcd.gz
	BlockNumber int64  // v6 only
	HasBlock    bool   // v6: block_number is written
}

// Meta is what the caller needs about one encoded document.
type Meta struct {
	ID          string // consensus_timestamp: the Elasticsearch _id
	ConsensusNs int64
	Name        string // transaction type, "UNKNOWN" if undecodable
	Result      string // ResponseCode name; "" when the record did not decode
	ParseError  string // "" when decoded
}

// Options are the operator's choices of what documents hold.
type Options struct {
	// TransactionBytes writes every transaction's bytes in "bytes", as the
	// mirror node does with hiero.mirror.importer.parser.record.entity.
	// persist.transactionBytes (default false: only node transactions
	// carry them).
	TransactionBytes bool
}

// Encoder reuses its decoding buffers; one per goroutine. It encodes the
// items of one file at a time, in file order (a child transaction is
// judged by its parent, see track).
type Encoder struct {
	opts  Options
	body  body
	rec   record
	items []item // the current file's items so far
}

// NewEncoder returns an Encoder.
func NewEncoder(opts Options) *Encoder {
	return &Encoder{opts: opts}
}

// decode fills e.body and e.rec from the item, or says what failed.
func (e *Encoder) decode(it recordstream.Item) error {
	// Field numbers of Transaction: body = 1 (2019 files), bodyBytes = 4
	// (until 2021), signedTransactionBytes = 5.
	fields, err := scanBytes(it.Transaction, 1, 4, 5)
	if err != nil {
		return fmt.Errorf("decoding Transaction: %w", err)
	}
	var bodyBytes []byte
	switch {
	case fields[2] != nil:
		// SignedTransaction: bodyBytes = 1.
		signed, err := scanBytes(fields[2], 1, 1, 1)
		if err != nil {
			return fmt.Errorf("decoding SignedTransaction: %w", err)
		}
		bodyBytes = signed[0]
	case fields[1] != nil:
		bodyBytes = fields[1]
	case fields[0] != nil:
		bodyBytes = fields[0]
	default:
		return fmt.Errorf("the Transaction has no body (no signedTransactionBytes, bodyBytes or body)")
	}
	if err := e.body.parse(bodyBytes); err != nil {
		return fmt.Errorf("decoding TransactionBody: %w", err)
	}
	if err := e.rec.parse(it.Record); err != nil {
		return fmt.Errorf("decoding TransactionRecord: %w", err)
	}
	if err := e.body.resolve(&e.rec); err != nil {
		return fmt.Errorf("decoding the %s body: %w", TypeName(e.body.typeNum), err)
	}
	return nil
}

// scanBytes returns the last value of each of the length-delimited fields
// a, b and c of the message in buf (nil where absent; an empty present
// field is a non-nil empty slice), skipping every other field.
func scanBytes(buf []byte, a, b, c protowire.Number) ([3][]byte, error) {
	var out [3][]byte
	for len(buf) > 0 {
		f, rest, err := next(buf)
		if err != nil {
			return out, err
		}
		buf = rest
		if f.typ != protowire.BytesType {
			continue
		}
		v := f.b
		if v == nil {
			v = []byte{}
		}
		switch f.num {
		case a:
			out[0] = v
		case b:
			out[1] = v
		case c:
			out[2] = v
		}
	}
	return out, nil
}

// Append appends item's document (one line of JSON, no newline) to dst.
func (e *Encoder) Append(dst []byte, src Source, index int, it recordstream.Item, sidecars []*hederapb.TransactionSidecarRecord) ([]byte, Meta) {
	sec, nanos := splitNs(it.ConsensusNs)
	const idStart = len(`{"consensus_timestamp":"`)
	start := len(dst)
	dst = append(dst, `{"consensus_timestamp":"`...)
	dst = appendTimestamp(dst, sec, nanos)
	meta := Meta{ID: string(dst[start+idStart:]), ConsensusNs: it.ConsensusNs}
	dst = append(dst, `","consensus_at":"`...)
	dst = time.Unix(sec, nanos).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z")
	dst = append(dst, `","record_file":`...)
	dst = appendString(dst, []byte(src.File))
	if src.HasBlock {
		dst = append(dst, `,"block_number":`...)
		dst = strconv.AppendInt(dst, src.BlockNumber, 10)
	}
	dst = append(dst, `,"index_in_file":`...)
	dst = strconv.AppendInt(dst, int64(index), 10)

	if err := e.decode(it); err == nil {
		successful := e.track(index, it.ConsensusNs, &e.rec, true)
		return e.appendDecoded(dst, &meta, it, successful, sidecars)
	} else {
		e.track(index, it.ConsensusNs, nil, false)
		meta.Name = Unknown
		meta.ParseError = err.Error()
	}
	dst = append(dst, `,"name":"UNKNOWN","parse_error":`...)
	dst = appendString(dst, []byte(meta.ParseError))
	dst = append(dst, `,"raw_transaction":`...)
	dst = appendBase64(dst, it.Transaction)
	dst = append(dst, `,"raw_record":`...)
	dst = appendBase64(dst, it.Record)
	return append(dst, '}'), meta
}

// appendDecoded appends the members of a decoded item's document after
// index_in_file, and the closing brace. The members and their values are
// those of the mirror node's REST API transaction (rest/transactions.js
// formatTransactionRows, rest/api/v1/openapi.yml Transaction and
// TransactionDetail) from what its importer stores
// (EntityRecordItemListener.buildTransaction and the transaction
// handlers), numbers as the importer's signed 64-bit columns hold them.
func (e *Encoder) appendDecoded(dst []byte, meta *Meta, it recordstream.Item, successful bool, sidecars []*hederapb.TransactionSidecarRecord) ([]byte, Meta) {
	b, rec := &e.body, &e.rec
	e.deriveTransfers(successful, it.ConsensusNs)
	rec.sortTransfers()
	meta.Name = TypeName(b.typeNum)
	meta.Result = resultName(rec.status)
	dst = append(dst, `,"name":`...)
	dst = appendASCII(dst, meta.Name)
	// type is ours: the body's data member number, which the importer
	// stores as transaction.type and the REST API turns into name (so
	// types it does not name stay apart here).
	dst = append(dst, `,"type":`...)
	dst = strconv.AppendInt(dst, int64(b.typeNum), 10)
	dst = append(dst, `,"result":`...)
	dst = appendASCII(dst, meta.Result)

	// transaction_id, valid_start_timestamp and nonce are the body's
	// transaction id's (payer_account_id, valid_start_ns, nonce); the
	// record's is the fallback for a body without one.
	id := b.id
	if !id.set {
		id = rec.id
	}
	dst = append(dst, `,"transaction_id":`...)
	if !id.set {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = appendEntity(dst, id.account.shard, id.account.realm, id.account.num)
		dst = append(dst, '-')
		vsec, vnanos := id.validSec, id.validNano
		if vnanos < 0 || vnanos >= 1e9 {
			vsec, vnanos = splitNs(vsec*1e9 + vnanos)
		}
		dst = strconv.AppendInt(dst, vsec, 10)
		dst = append(dst, '-')
		dst = appendNanos(dst, vnanos)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"valid_start_timestamp":"`...)
	dst = appendTimestamp(dst, id.validSec, id.validNano)
	dst = append(dst, `","valid_duration_seconds":`...)
	if b.hasDuration {
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, b.duration, 10)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	// Both fees are uint64 on the wire and bigint in the mirror node.
	dst = append(dst, `,"charged_tx_fee":`...)
	dst = strconv.AppendInt(dst, int64(rec.fee), 10)
	dst = append(dst, `,"max_fee":"`...)
	dst = strconv.AppendInt(dst, int64(b.fee), 10)
	dst = append(dst, `","memo_base64":`...)
	dst = appendBase64(dst, b.memo)
	dst = append(dst, `,"node":`...)
	dst = appendEID(dst, b.node)
	dst = append(dst, `,"nonce":`...)
	dst = strconv.AppendInt(dst, id.nonce, 10)
	// scheduled: the record has a scheduleRef (buildTransaction).
	dst = append(dst, `,"scheduled":`...)
	dst = appendBool(dst, rec.scheduled)
	dst = append(dst, `,"parent_consensus_timestamp":`...)
	if rec.hasParent {
		dst = append(dst, '"')
		dst = appendTimestamp(dst, rec.parentSec, rec.parentNano)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"entity_id":`...)
	dst = appendEID(dst, b.entity)
	dst = append(dst, `,"transaction_hash":`...)
	dst = appendBase64(dst, rec.hash)
	// batch_key: the Key's bytes in hex with 0x (utils.toHexString), null
	// without one.
	dst = append(dst, `,"batch_key":`...)
	if b.hasBatchKey {
		dst = append(dst, `"0x`...)
		dst = appendHex(dst, b.batchKey)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	// bytes: the Transaction's bytes, which the importer stores for node
	// create, update and delete always (AbstractNodeTransactionHandler)
	// and for every type with persist.transactionBytes; null otherwise.
	dst = append(dst, `,"bytes":`...)
	switch {
	case e.opts.TransactionBytes, b.typeNum == typeNodeCreate, b.typeNum == typeNodeUpdate, b.typeNum == typeNodeDelete:
		dst = appendBase64(dst, it.Transaction)
	default:
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"max_custom_fees":`...)
	dst = appendMaxCustomFees(dst, b.fees)
	dst = append(dst, `,"transfers":[`...)
	for i := range rec.transfers {
		a := &rec.transfers[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"account":`...)
		dst = appendEID(dst, a.account)
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendInt(dst, a.amount, 10)
		dst = append(dst, `,"is_approval":`...)
		dst = appendBool(dst, a.isApproval)
		if a.errata {
			dst = append(dst, `,"errata":"DELETE"`...)
		}
		dst = append(dst, '}')
	}
	// Token and NFT transfers and assessed custom fees are stored only for
	// a successful transaction or FAIL_INVALID, whose records may carry
	// changes committed to state (EntityRecordItemListener.onItem).
	withTokens := successful || rec.status == int32(hederapb.ResponseCodeEnum_FAIL_INVALID)
	dst = append(dst, `],"token_transfers":[`...)
	for i := range rec.tokenTransfers {
		if !withTokens {
			break
		}
		a := &rec.tokenTransfers[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"token_id":`...)
		dst = appendEID(dst, a.token)
		dst = append(dst, `,"account":`...)
		dst = appendEID(dst, a.account)
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendInt(dst, a.amount.amount, 10)
		dst = append(dst, `,"is_approval":`...)
		dst = appendBool(dst, a.isApproval)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"nft_transfers":[`...)
	for i := range rec.nfts {
		if !withTokens {
			break
		}
		n := &rec.nfts[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"is_approval":`...)
		dst = appendBool(dst, n.isApproval)
		dst = append(dst, `,"receiver_account_id":`...)
		dst = appendEID(dst, n.receiver)
		dst = append(dst, `,"sender_account_id":`...)
		dst = appendEID(dst, n.sender)
		dst = append(dst, `,"serial_number":`...)
		dst = strconv.AppendInt(dst, n.serial, 10)
		dst = append(dst, `,"token_id":`...)
		dst = appendEID(dst, n.token)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"staking_reward_transfers":[`...)
	for i := range rec.stakingRewards {
		a := &rec.stakingRewards[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"account":`...)
		dst = appendEID(dst, a.account)
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendInt(dst, a.amount, 10)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	// assessed_custom_fees: TransactionDetail's, present when there are any.
	if withTokens && len(rec.assessed) > 0 {
		dst = e.appendAssessed(dst)
	}

	switch b.typeNum {
	case typeSubmitMessage:
		dst = append(dst, `,"topic_message":{"topic_id":`...)
		dst = appendEID(dst, b.topic)
		dst = append(dst, `,"sequence_number":`...)
		dst = strconv.AppendInt(dst, int64(rec.topicSeq), 10)
		dst = append(dst, `,"running_hash":`...)
		dst = appendBase64(dst, rec.topicHash)
		dst = append(dst, `,"running_hash_version":`...)
		dst = strconv.AppendInt(dst, int64(rec.topicHashVersion), 10)
		dst = append(dst, `,"message":`...)
		dst = appendBase64(dst, b.message)
		dst = append(dst, '}')
	case typeEthereum:
		dst = append(dst, `,"ethereum":{"hash":"0x`...)
		dst = appendHex(dst, rec.ethHash)
		dst = append(dst, `","data":`...)
		dst = appendBase64(dst, b.ethData)
		dst = append(dst, `,"call_data_file_id":`...)
		dst = appendEID(dst, b.callData)
		dst = append(dst, `,"max_gas_allowance":`...)
		dst = strconv.AppendInt(dst, b.allowance, 10)
		dst = append(dst, '}')
	}
	if rec.hasResult {
		dst = append(dst, `,"contract_result":{"contract_id":`...)
		dst = appendEID(dst, rec.resContract)
		dst = append(dst, `,"gas_used":`...)
		dst = strconv.AppendInt(dst, int64(rec.resGasUsed), 10)
		dst = append(dst, `,"error_message":`...)
		dst = appendString(dst, rec.resError)
		dst = append(dst, `,"call_result":`...)
		dst = appendBase64(dst, rec.resCallResult)
		dst = append(dst, '}')
	}
	if len(sidecars) > 0 {
		dst = e.appendSidecars(dst, sidecars)
	}
	return append(dst, '}'), *meta
}

// resultName is the ResponseCode's name, or its number for a code newer
// than our enum.
func resultName(c int32) string {
	if s, ok := hederapb.ResponseCodeEnum_name[c]; ok {
		return s
	}
	return strconv.FormatInt(int64(c), 10)
}

// sidecarJSON renders sidecar details with the upstream field names.
var sidecarJSON = protojson.MarshalOptions{UseProtoNames: true}

// appendSidecars appends the "sidecars" member. Details are protojson,
// compacted: protojson varies its whitespace between builds on purpose,
// and documents must be the same bytes every time.
func (e *Encoder) appendSidecars(dst []byte, sidecars []*hederapb.TransactionSidecarRecord) []byte {
	dst = append(dst, `,"sidecars":[`...)
	for i, s := range sidecars {
		if i > 0 {
			dst = append(dst, ',')
		}
		var kind string
		var detail proto.Message
		switch k := s.GetSidecarRecords().(type) {
		case *hederapb.TransactionSidecarRecord_StateChanges:
			kind, detail = "CONTRACT_STATE_CHANGE", k.StateChanges
		case *hederapb.TransactionSidecarRecord_Actions:
			kind, detail = "CONTRACT_ACTION", k.Actions
		case *hederapb.TransactionSidecarRecord_Bytecode:
			kind, detail = "CONTRACT_BYTECODE", k.Bytecode
		}
		dst = append(dst, `{"type":`...)
		if kind == "" {
			dst = append(dst, "null"...)
		} else {
			dst = appendASCII(dst, kind)
		}
		dst = append(dst, `,"migration":`...)
		dst = appendBool(dst, s.GetMigration())
		dst = append(dst, `,"detail":`...)
		dst = e.appendDetail(dst, detail)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func (e *Encoder) appendDetail(dst []byte, m proto.Message) []byte {
	if m == nil || !m.ProtoReflect().IsValid() {
		return append(dst, "{}"...)
	}
	raw, err := sidecarJSON.Marshal(m)
	if err != nil {
		// Only invalid UTF-8 in a string field can fail here; the detail
		// is then left empty rather than the document broken.
		return append(dst, "{}"...)
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return append(dst, "{}"...)
	}
	return append(dst, buf.Bytes()...)
}

// SidecarsByConsensus groups sidecar records by their consensus timestamp (ns).
func SidecarsByConsensus(records []*hederapb.TransactionSidecarRecord) map[int64][]*hederapb.TransactionSidecarRecord {
	out := make(map[int64][]*hederapb.TransactionSidecarRecord, len(records))
	for _, r := range records {
		ts := r.GetConsensusTimestamp()
		ns := ts.GetSeconds()*1e9 + int64(ts.GetNanos())
		out[ns] = append(out[ns], r)
	}
	return out
}

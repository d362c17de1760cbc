// Package txdoc turns one record item (Transaction and TransactionRecord
// bytes) into one JSON document shaped like the mirror node REST API's
// transaction object, plus the record-parser's own fields. It is the
// record-parser's hot path: documents are appended to a caller's buffer
// with no reflection, no maps and decoding messages reused per Encoder.
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

// Encoder reuses its decoding buffers; one per goroutine.
type Encoder struct {
	body hederapb.TransactionBody
	rec  hederapb.TransactionRecord
	opts proto.UnmarshalOptions
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	return &Encoder{}
}

var dataOneof = (&hederapb.TransactionBody{}).ProtoReflect().Descriptor().Oneofs().ByName("data")

// decode fills e.rec from the item and returns its body, or says what
// failed. Transaction and SignedTransaction are scanned with protowire
// rather than decoded: only their body bytes are needed, and decoding the
// signature maps would cost several allocations per item on the hot path.
func (e *Encoder) decode(it recordstream.Item) (*hederapb.TransactionBody, error) {
	// Field numbers of Transaction: body = 1 (2019 files), bodyBytes = 4
	// (until 2021), signedTransactionBytes = 5.
	fields, err := scanBytes(it.Transaction, 1, 4, 5)
	if err != nil {
		return nil, fmt.Errorf("decoding Transaction: %w", err)
	}
	var bodyBytes []byte
	switch {
	case fields[2] != nil:
		// SignedTransaction: bodyBytes = 1.
		signed, err := scanBytes(fields[2], 1, 1, 1)
		if err != nil {
			return nil, fmt.Errorf("decoding SignedTransaction: %w", err)
		}
		bodyBytes = signed[0]
	case fields[1] != nil:
		bodyBytes = fields[1]
	case fields[0] != nil:
		bodyBytes = fields[0]
	default:
		return nil, fmt.Errorf("the Transaction has no body (no signedTransactionBytes, bodyBytes or body)")
	}
	if err := e.opts.Unmarshal(bodyBytes, &e.body); err != nil {
		return nil, fmt.Errorf("decoding TransactionBody: %w", err)
	}
	if err := e.opts.Unmarshal(it.Record, &e.rec); err != nil {
		return nil, fmt.Errorf("decoding TransactionRecord: %w", err)
	}
	return &e.body, nil
}

// scanBytes returns the last value of each of the length-delimited fields
// a, b and c of the message in buf (nil where absent; an empty present
// field is a non-nil empty slice), skipping every other field.
func scanBytes(buf []byte, a, b, c protowire.Number) ([3][]byte, error) {
	var out [3][]byte
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return out, protowire.ParseError(n)
		}
		buf = buf[n:]
		if typ == protowire.BytesType && (num == a || num == b || num == c) {
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return out, protowire.ParseError(n)
			}
			if v == nil {
				v = []byte{}
			}
			switch num {
			case a:
				out[0] = v
			case b:
				out[1] = v
			default:
				out[2] = v
			}
			buf = buf[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, buf)
		if n < 0 {
			return out, protowire.ParseError(n)
		}
		buf = buf[n:]
	}
	return out, nil
}

// Append appends item's document (one line of JSON, no newline) to dst.
func (e *Encoder) Append(dst []byte, src Source, index int, it recordstream.Item, sidecars []*hederapb.TransactionSidecarRecord) ([]byte, Meta) {
	sec, nanos := splitNs(it.ConsensusNs)
	start := len(dst)
	dst = append(dst, `{"consensus_timestamp":"`...)
	dst = appendTimestamp(dst, sec, nanos)
	idEnd := len(dst)
	meta := Meta{ConsensusNs: it.ConsensusNs}
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
	meta.ID = string(dst[start+len(`{"consensus_timestamp":"`) : idEnd])

	body, err := e.decode(it)
	if err != nil {
		meta.Name = Unknown
		meta.ParseError = err.Error()
		dst = append(dst, `,"name":"UNKNOWN","parse_error":`...)
		dst = appendString(dst, []byte(meta.ParseError))
		dst = append(dst, `,"raw_transaction":`...)
		dst = appendBase64(dst, it.Transaction)
		dst = append(dst, `,"raw_record":`...)
		dst = appendBase64(dst, it.Record)
		return append(dst, '}'), meta
	}
	rec := &e.rec
	receipt := rec.GetReceipt()

	typeNum := 0
	if fd := body.ProtoReflect().WhichOneof(dataOneof); fd != nil {
		typeNum = int(fd.Number())
	}
	meta.Name = TypeName(typeNum)
	meta.Result = resultName(receipt.GetStatus())

	dst = append(dst, `,"name":`...)
	dst = appendASCII(dst, meta.Name)
	dst = append(dst, `,"result":`...)
	dst = appendASCII(dst, meta.Result)

	// The record's id is the one the network executed (with scheduled and
	// nonce for scheduled and child transactions); the body's is the
	// fallback for records that lack it.
	txid := rec.GetTransactionID()
	if txid == nil {
		txid = body.GetTransactionID()
	}
	vs := txid.GetTransactionValidStart()
	dst = append(dst, `,"transaction_id":`...)
	if txid == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		acc := txid.GetAccountID()
		dst = appendEntity(dst, acc.GetShardNum(), acc.GetRealmNum(), acc.GetAccountNum())
		dst = append(dst, '-')
		vsec, vnanos := vs.GetSeconds(), int64(vs.GetNanos())
		if vnanos < 0 || vnanos >= 1e9 {
			vsec, vnanos = splitNs(vsec*1e9 + vnanos)
		}
		dst = strconv.AppendInt(dst, vsec, 10)
		dst = append(dst, '-')
		dst = appendNanos(dst, vnanos)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"valid_start_timestamp":"`...)
	dst = appendTimestamp(dst, vs.GetSeconds(), int64(vs.GetNanos()))
	dst = append(dst, `","valid_duration_seconds":`...)
	if d := body.GetTransactionValidDuration(); d != nil {
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, d.GetSeconds(), 10)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"charged_tx_fee":`...)
	dst = strconv.AppendUint(dst, rec.GetTransactionFee(), 10)
	dst = append(dst, `,"max_fee":"`...)
	dst = strconv.AppendUint(dst, body.GetTransactionFee(), 10)
	dst = append(dst, `","memo_base64":`...)
	dst = appendBase64(dst, body.GetMemo())
	dst = append(dst, `,"node":`...)
	dst = appendAccount(dst, body.GetNodeAccountID())
	dst = append(dst, `,"nonce":`...)
	dst = strconv.AppendInt(dst, int64(txid.GetNonce()), 10)
	dst = append(dst, `,"scheduled":`...)
	dst = appendBool(dst, txid.GetScheduled())
	dst = append(dst, `,"parent_consensus_timestamp":`...)
	if p := rec.GetParentConsensusTimestamp(); p != nil {
		dst = append(dst, '"')
		dst = appendTimestamp(dst, p.GetSeconds(), int64(p.GetNanos()))
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"entity_id":`...)
	dst = appendEntityID(dst, body, rec)
	dst = append(dst, `,"transaction_hash":`...)
	dst = appendBase64(dst, rec.GetTransactionHash())
	dst = append(dst, `,"bytes":null,"transfers":[`...)
	for i, aa := range rec.GetTransferList().GetAccountAmounts() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"account":`...)
		dst = appendAccount(dst, aa.GetAccountID())
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendInt(dst, aa.GetAmount(), 10)
		dst = append(dst, `,"is_approval":`...)
		dst = appendBool(dst, aa.GetIsApproval())
		dst = append(dst, '}')
	}
	dst = append(dst, `],"token_transfers":[`...)
	n := 0
	for _, tl := range rec.GetTokenTransferLists() {
		for _, aa := range tl.GetTransfers() {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"token_id":`...)
			dst = appendToken(dst, tl.GetToken())
			dst = append(dst, `,"account":`...)
			dst = appendAccount(dst, aa.GetAccountID())
			dst = append(dst, `,"amount":`...)
			dst = strconv.AppendInt(dst, aa.GetAmount(), 10)
			dst = append(dst, `,"is_approval":`...)
			dst = appendBool(dst, aa.GetIsApproval())
			dst = append(dst, '}')
		}
	}
	dst = append(dst, `],"nft_transfers":[`...)
	n = 0
	for _, tl := range rec.GetTokenTransferLists() {
		for _, nt := range tl.GetNftTransfers() {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"is_approval":`...)
			dst = appendBool(dst, nt.GetIsApproval())
			dst = append(dst, `,"receiver_account_id":`...)
			dst = appendAccount(dst, nt.GetReceiverAccountID())
			dst = append(dst, `,"sender_account_id":`...)
			dst = appendAccount(dst, nt.GetSenderAccountID())
			dst = append(dst, `,"serial_number":`...)
			dst = strconv.AppendInt(dst, nt.GetSerialNumber(), 10)
			dst = append(dst, `,"token_id":`...)
			dst = appendToken(dst, tl.GetToken())
			dst = append(dst, '}')
		}
	}
	dst = append(dst, `],"staking_reward_transfers":[`...)
	for i, aa := range rec.GetPaidStakingRewards() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"account":`...)
		dst = appendAccount(dst, aa.GetAccountID())
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendInt(dst, aa.GetAmount(), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')

	if msg := body.GetConsensusSubmitMessage(); msg != nil {
		dst = append(dst, `,"topic_message":{"topic_id":`...)
		dst = appendTopic(dst, msg.GetTopicID())
		dst = append(dst, `,"sequence_number":`...)
		dst = strconv.AppendUint(dst, receipt.GetTopicSequenceNumber(), 10)
		dst = append(dst, `,"running_hash":`...)
		dst = appendBase64(dst, receipt.GetTopicRunningHash())
		dst = append(dst, `,"running_hash_version":`...)
		dst = strconv.AppendUint(dst, receipt.GetTopicRunningHashVersion(), 10)
		dst = append(dst, `,"message":`...)
		dst = appendBase64(dst, msg.GetMessage())
		dst = append(dst, '}')
	}
	if cr := contractResult(rec); cr != nil {
		dst = append(dst, `,"contract_result":{"contract_id":`...)
		dst = appendContract(dst, cr.GetContractID())
		dst = append(dst, `,"gas_used":`...)
		dst = strconv.AppendUint(dst, cr.GetGasUsed(), 10)
		dst = append(dst, `,"error_message":`...)
		dst = appendString(dst, cr.GetErrorMessage())
		dst = append(dst, `,"call_result":`...)
		dst = appendBase64(dst, cr.GetContractCallResult())
		dst = append(dst, '}')
	}
	if eth := body.GetEthereumTransaction(); eth != nil {
		dst = append(dst, `,"ethereum":{"hash":"0x`...)
		dst = appendHex(dst, rec.GetEthereumHash())
		dst = append(dst, `","data":`...)
		dst = appendBase64(dst, eth.GetEthereumData())
		dst = append(dst, `,"call_data_file_id":`...)
		dst = appendFile(dst, eth.GetCallData())
		dst = append(dst, `,"max_gas_allowance":`...)
		dst = strconv.AppendInt(dst, eth.GetMaxGasAllowance(), 10)
		dst = append(dst, '}')
	}
	if len(sidecars) > 0 {
		dst = e.appendSidecars(dst, sidecars)
	}
	return append(dst, '}'), meta
}

func contractResult(rec *hederapb.TransactionRecord) *hederapb.ContractFunctionResult {
	if r := rec.GetContractCallResult(); r != nil {
		return r
	}
	return rec.GetContractCreateResult()
}

// resultName is the ResponseCode's name, or its number for a code newer
// than our enum.
func resultName(c hederapb.ResponseCodeEnum) string {
	if s, ok := hederapb.ResponseCodeEnum_name[int32(c)]; ok {
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

package txgen

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
)

// FileWrite is the contents of a file written the way the network writes
// a file larger than one transaction: a FileUpdate with the first Chunk
// bytes, then a FileAppend per further Chunk bytes. The network announces
// a new address book so, in 0.0.102 (and 0.0.101).
type FileWrite struct {
	Shard, Realm, File int64
	Contents           []byte
	// Chunk is the most contents one transaction carries (default 4096,
	// the network's limit per transaction being about 6 KiB).
	Chunk int
	// Start is the first transaction's consensus time; the next follow
	// 1 µs apart.
	Start time.Time
	// Payer is the paying account's number (default 55, the network's
	// address-book admin account).
	Payer int64
	// Status is every transaction's receipt status (default SUCCESS).
	Status hederapb.ResponseCodeEnum
}

// FileWriteItems returns the FileUpdate and FileAppend items of w: real
// Transaction bytes (a SignedTransaction whose body is a TransactionBody
// with the upstream field numbers) and TransactionRecords with the
// receipt status.
func FileWriteItems(w FileWrite) []recordstream.Item {
	if w.Chunk <= 0 {
		w.Chunk = 4096
	}
	if w.Payer == 0 {
		w.Payer = 55
	}
	if w.Status == hederapb.ResponseCodeEnum_OK {
		w.Status = hederapb.ResponseCodeEnum_SUCCESS
	}
	id := &hederapb.FileID{ShardNum: w.Shard, RealmNum: w.Realm, FileNum: w.File}
	var items []recordstream.Item
	for i, off := 0, 0; off < len(w.Contents) || i == 0; i++ {
		end := min(off+w.Chunk, len(w.Contents))
		ns := w.Start.UnixNano() + int64(i)*int64(time.Microsecond)
		payer := &hederapb.AccountID{ShardNum: w.Shard, RealmNum: w.Realm, Account: &hederapb.AccountID_AccountNum{AccountNum: w.Payer}}
		txid := &hederapb.TransactionID{TransactionValidStart: ts(ns - int64(2*time.Second)), AccountID: payer}
		head := mustMarshal(&hederapb.TransactionBody{
			TransactionID:            txid,
			NodeAccountID:            acct(3),
			TransactionFee:           200_000_000,
			TransactionValidDuration: &hederapb.Duration{Seconds: 120},
		})
		// The body's data: the oneof member appended to the other fields,
		// which is the same protobuf as a TransactionBody holding it.
		var body []byte
		if i == 0 {
			body = protowire.AppendTag(head, 19, protowire.BytesType) // fileUpdate
			body = protowire.AppendBytes(body, mustMarshal(&hederapb.FileUpdateContents{FileID: id, Contents: w.Contents[off:end]}))
		} else {
			body = protowire.AppendTag(head, 16, protowire.BytesType) // fileAppend
			body = protowire.AppendBytes(body, mustMarshal(&hederapb.FileAppendContents{FileID: id, Contents: w.Contents[off:end]}))
		}
		signed := &hederapb.SignedTransaction{BodyBytes: body, SigMap: &hederapb.SignatureMap{}}
		tx := &hederapb.Transaction{SignedTransactionBytes: mustMarshal(signed)}
		rec := &hederapb.TransactionRecord{
			Receipt:            &hederapb.TransactionReceipt{Status: w.Status},
			TransactionHash:    make([]byte, 48),
			ConsensusTimestamp: ts(ns),
			TransactionID:      txid,
			TransactionFee:     100_000,
		}
		items = append(items, recordstream.Item{Transaction: mustMarshal(tx), Record: mustMarshal(rec), ConsensusNs: ns})
		off = end
	}
	return items
}

package recordstream

import (
	"encoding/hex"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
)

// The network announces a new address book in its own stream: a
// FileUpdate of the address-book file with the first part of the new
// NodeAddressBook, then FileAppends with the rest. The mirror node follows
// it so (importer FileUpdateTransactionHandler / FileAppendTransactionHandler
// → FileDataHandler → AddressBookServiceImpl.update):
//
//   - only successful transactions count;
//   - the files are shard.realm.101 and shard.realm.102; both are read,
//     and the book whose keys verify the stream is 0.0.102's (getCurrent
//     asks for file 102 only);
//   - a FileUpdate starts the file's contents over; each FileAppend adds
//     to the contents of the last FileUpdate and the appends since; after
//     each, the bytes so far are parsed as a NodeAddressBook, and when
//     they parse into a book with nodes that is the new book;
//   - a book is in force from its transaction's consensus time + 1 ns
//     (getAddressBookStartConsensusTimestamp), so the record file that
//     carries it is still checked with the book before it and the files
//     after it with the new one.

// Address-book file numbers.
const (
	// BookFileNodeDetails is 0.0.102: the node details with the RSA keys
	// the stream's signatures verify with.
	BookFileNodeDetails int64 = 102
	// BookFileAddresses is 0.0.101: the address book of endpoints.
	BookFileAddresses int64 = 101
)

// maxBookFileSize bounds the bytes gathered for one address-book file: the
// network's files are at most 1 MiB; more is not an address book.
const maxBookFileSize = 8 << 20

// BookFileOp is one successful FileUpdate or FileAppend of an
// address-book file in a record file.
type BookFileOp struct {
	ConsensusNs int64
	File        int64 // BookFileNodeDetails or BookFileAddresses
	Append      bool  // FileAppend; false: FileUpdate
	Contents    []byte
	Item        int // the transaction's place in the record file, from 0
}

// BookFileOps lists the successful FileUpdates and FileAppends of the
// address-book files shard.realm.101 and shard.realm.102 in the record
// file, in order. Most transactions are passed over after a look at the
// body's top-level field numbers. A transaction whose bytes do not read as
// a Transaction is no update this reader can apply and is passed over
// (the record-parser refuses such a file); an update of an address-book
// file whose body, contents or record do not decode is an error.
func BookFileOps(f *RecordFile, shard, realm int64) ([]BookFileOp, error) {
	var ops []BookFileOp
	for i, it := range f.Items {
		body, ok := transactionBody(it.Transaction)
		if !ok || !hasFileContentsField(body) {
			continue
		}
		var b hederapb.FileContentsBody
		if err := proto.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("%s: transaction %d: file update or append body: %v: %w", f.Name, i, err, ErrMalformed)
		}
		op := BookFileOp{ConsensusNs: it.ConsensusNs, Item: i}
		var id *hederapb.FileID
		switch d := b.GetData().(type) {
		case *hederapb.FileContentsBody_FileAppend:
			id, op.Append, op.Contents = d.FileAppend.GetFileID(), true, d.FileAppend.GetContents()
		case *hederapb.FileContentsBody_FileUpdate:
			id, op.Contents = d.FileUpdate.GetFileID(), d.FileUpdate.GetContents()
		default:
			continue
		}
		if id.GetShardNum() != shard || id.GetRealmNum() != realm ||
			(id.GetFileNum() != BookFileNodeDetails && id.GetFileNum() != BookFileAddresses) {
			continue
		}
		op.File = id.GetFileNum()
		var rec hederapb.TransactionRecord
		if err := proto.Unmarshal(it.Record, &rec); err != nil {
			return nil, fmt.Errorf("%s: transaction %d: record of an update of file %d.%d.%d: %v: %w", f.Name, i, shard, realm, op.File, err, ErrMalformed)
		}
		if rec.GetReceipt().GetStatus() != hederapb.ResponseCodeEnum_SUCCESS {
			continue
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// transactionBody finds a Transaction's TransactionBody bytes: in
// signedTransactionBytes (5, a SignedTransaction whose field 1 is the
// body), bodyBytes (4) or the deprecated body (1).
func transactionBody(tx []byte) ([]byte, bool) {
	var body []byte
	ok := eachBytesField(tx, func(num protowire.Number, v []byte) {
		switch num {
		case 5:
			eachBytesField(v, func(n protowire.Number, b []byte) {
				if n == 1 {
					body = b
				}
			})
		case 1, 4:
			body = v
		}
	})
	return body, ok && body != nil
}

// hasFileContentsField says whether a TransactionBody is a fileAppend (16)
// or fileUpdate (19): the cheap test every transaction goes through.
func hasFileContentsField(body []byte) bool {
	found := false
	eachBytesField(body, func(num protowire.Number, _ []byte) {
		found = found || num == 16 || num == 19
	})
	return found
}

// eachBytesField calls fn for every length-delimited top-level field of a
// protobuf message; false if the bytes are not a message.
func eachBytesField(b []byte, fn func(protowire.Number, []byte)) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false
			}
			fn(num, v)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return false
		}
		b = b[m:]
	}
	return true
}

// BookUpdater gathers the contents of the address-book files across
// record files and tells when an update completes a book. Its state (the
// bytes gathered since each file's last FileUpdate) is what must be kept
// with a stream's position so an update that spans record files survives
// a restart.
type BookUpdater struct {
	shard, realm int64
	parts        map[int64][]byte
}

// NewBookUpdater starts from the bytes gathered so far (nil: none), for
// the files of shard.realm.
func NewBookUpdater(shard, realm int64, parts map[int64][]byte) *BookUpdater {
	u := &BookUpdater{shard: shard, realm: realm, parts: map[int64][]byte{}}
	for f, b := range parts {
		u.parts[f] = append([]byte(nil), b...)
	}
	return u
}

// Parts is a copy of the bytes gathered per file since its last
// FileUpdate.
func (u *BookUpdater) Parts() map[int64][]byte {
	out := make(map[int64][]byte, len(u.parts))
	for f, b := range u.parts {
		out[f] = append([]byte(nil), b...)
	}
	return out
}

// Clone is an independent copy.
func (u *BookUpdater) Clone() *BookUpdater { return NewBookUpdater(u.shard, u.realm, u.parts) }

// Apply takes one operation and returns the book it completes, if the
// bytes gathered now parse as an address book with nodes (nil otherwise).
// An update with empty contents starts the file over and completes
// nothing; an empty append adds nothing (the mirror node skips empty
// contents after storing them).
func (u *BookUpdater) Apply(op BookFileOp) (*AddressBook, error) {
	if !op.Append {
		u.parts[op.File] = append([]byte(nil), op.Contents...)
	} else {
		if len(u.parts[op.File])+len(op.Contents) > maxBookFileSize {
			return nil, fmt.Errorf("address-book file %d.%d.%d: appends reach more than %d bytes: %w", u.shard, u.realm, op.File, maxBookFileSize, ErrMalformed)
		}
		u.parts[op.File] = append(u.parts[op.File], op.Contents...)
	}
	if len(op.Contents) == 0 {
		return nil, nil
	}
	b, err := ParseBookUpdate(u.parts[op.File], u.shard, u.realm)
	if err != nil {
		// Not (yet) a whole book: the next append may complete it.
		return nil, nil
	}
	return b, nil
}

// ParseBookUpdate reads the contents of an address-book file as the
// mirror node's AddressBookServiceImpl.buildAddressBook does: a
// NodeAddressBook whose every node has an account in shard.realm (from
// nodeAccountId, or the memo in old books), entries of one node id merged
// (the first one's key kept). A key that does not read leaves the node in
// the book without one: it counts in the network, and its signatures do
// not verify. A book without nodes is an error.
func ParseBookUpdate(data []byte, shard, realm int64) (*AddressBook, error) {
	var book hederapb.NodeAddressBook
	if err := proto.Unmarshal(data, &book); err != nil {
		return nil, fmt.Errorf("NodeAddressBook: %v: %w", err, ErrMalformed)
	}
	b := &AddressBook{nodes: map[string]Node{}, byID: map[int64]Node{}}
	for i, na := range book.GetNodeAddress() {
		account := ""
		if id := na.GetNodeAccountId(); id != nil {
			if id.GetShardNum() != shard || id.GetRealmNum() != realm || id.GetAccountNum() == 0 {
				return nil, fmt.Errorf("node address %d: nodeAccountId %d.%d.%d is not an account of shard %d realm %d: %w",
					i, id.GetShardNum(), id.GetRealmNum(), id.GetAccountNum(), shard, realm, ErrMalformed)
			}
			account = fmt.Sprintf("%d.%d.%d", id.GetShardNum(), id.GetRealmNum(), id.GetAccountNum())
		} else {
			account = strings.TrimSpace(string(na.GetMemo()))
			m := accountPattern.FindStringSubmatch(account)
			if m == nil || m[1] != fmt.Sprint(shard) || m[2] != fmt.Sprint(realm) {
				return nil, fmt.Errorf("node address %d: no node account (memo %q): %w", i, na.GetMemo(), ErrMalformed)
			}
		}
		id := legacyNodeID(account, na.GetNodeId())
		if _, seen := b.byID[id]; seen {
			continue
		}
		n := Node{Account: account, NodeID: id, Stake: na.GetStake()}
		if der, err := hex.DecodeString(strings.TrimSpace(na.GetRSA_PubKey())); err == nil {
			if key, err := parseRSAKey(der); err == nil {
				n.Key = key
			}
		}
		if prev, dup := b.nodes[account]; dup {
			return nil, fmt.Errorf("node account %s has node ids %d and %d: %w", account, prev.NodeID, id, ErrMalformed)
		}
		b.nodes[account] = n
		b.byID[id] = n
	}
	if len(b.nodes) == 0 {
		return nil, fmt.Errorf("address book lists no nodes: %w", ErrMalformed)
	}
	return b, nil
}

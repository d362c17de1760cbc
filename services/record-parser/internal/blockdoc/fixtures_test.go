package blockdoc

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-parser/internal/txdoc"
)

// expectedBlock is what blockstreams-expected.json says of a block file
// that the conversion must agree with: the mirror node's count of
// transactions and its first and last consensus times.
type expectedBlock struct {
	Format       string `json:"format"`
	Era          string `json:"era"`
	Transactions *struct {
		Count int `json:"count"`
	} `json:"transactions"`
	First *int64 `json:"first_consensus_ns"`
	Last  *int64 `json:"last_consensus_ns"`
}

// fixtureBlocks are the real blocks of the current layouts (the CN 0.7x
// eight-leaf and the CN 0.78 sixteen-leaf eras), by path below
// testdata/hedera, with their expected values. The pre-release layouts of
// the mirror node's history and its malformed 039 are not blocks a network
// writes now.
func fixtureBlocks(t *testing.T) (string, map[string]expectedBlock) {
	root := testkit.HederaFixtures(t)
	raw, err := os.ReadFile(filepath.Join(root, "blockstreams-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		Files map[string]expectedBlock `json:"files"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]expectedBlock{}
	for p, e := range all.Files {
		if e.Format == "block" && (e.Era == "HEAD" || e.Era == "BN16") && filepath.Base(p) != "039.blk.zstd" {
			out[p] = e
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d current-layout blocks in blockstreams-expected.json", len(out))
	}
	return root, out
}

func readBlock(t *testing.T, path string) *blockstream.Block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blockstream.Parse(filepath.Base(path), data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every real block converts with the mirror node's count of transactions
// and consensus range, and every record built agrees with what the block
// says, read independently with the generated protobuf code: the result's
// status, time, fee, transfers and parent; the hash of the signed
// transaction's bytes; the body's id and memo; an account create's new
// account from its output. Every document encodes without a parse error.
func TestFixtureBlocks(t *testing.T) {
	root, blocks := fixtureBlocks(t)
	names := make([]string, 0, len(blocks))
	for p := range blocks {
		names = append(names, p)
	}
	sort.Strings(names)
	c := NewConverter()
	enc := txdoc.NewEncoder(txdoc.Options{})
	legacies := 0
	for _, p := range names {
		want := blocks[p]
		b := readBlock(t, filepath.Join(root, p))
		items, sum, err := c.Convert(b, nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if want.Transactions == nil || sum.Count != want.Transactions.Count || len(items) != sum.Count {
			t.Errorf("%s: %d transactions (%d items), want %+v", p, sum.Count, len(items), want.Transactions)
		}
		if want.First != nil && (sum.ConsensusStart != *want.First || sum.ConsensusEnd != *want.Last) {
			t.Errorf("%s: consensus %d..%d, want %d..%d", p, sum.ConsensusStart, sum.ConsensusEnd, *want.First, *want.Last)
		}
		// The block read with generated code: each signed transaction
		// followed by a result, in order (these blocks hold no batch).
		var pb hederapb.Block
		plain, err := blockstream.NewReader(blockstream.Limits{}).Decompress(filepath.Base(p), mustRead(t, filepath.Join(root, p)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(plain, &pb); err != nil {
			t.Fatal(err)
		}
		type pair struct {
			signed []byte
			result *hederapb.TransactionResult
			outs   []*hederapb.TransactionOutput
		}
		var pairs []pair
		var pending []byte
		for _, it := range pb.Items {
			switch x := it.Item.(type) {
			case *hederapb.BlockItem_SignedTransaction:
				pending = x.SignedTransaction
			case *hederapb.BlockItem_TransactionResult:
				pairs = append(pairs, pair{signed: pending, result: x.TransactionResult})
				pending = nil
			case *hederapb.BlockItem_TransactionOutput:
				pairs[len(pairs)-1].outs = append(pairs[len(pairs)-1].outs, x.TransactionOutput)
			}
		}
		if len(pairs) != len(items) {
			t.Fatalf("%s: %d results read with generated code, %d items", p, len(pairs), len(items))
		}
		for i, it := range items {
			pr := pairs[i]
			var rec hederapb.TransactionRecord
			if err := proto.Unmarshal(it.Record, &rec); err != nil {
				t.Fatalf("%s: item %d: record does not decode: %v", p, i, err)
			}
			var st hederapb.SignedTransaction
			var body hederapb.TransactionBody
			if err := proto.Unmarshal(pr.signed, &st); err != nil {
				t.Fatal(err)
			}
			if err := proto.Unmarshal(st.BodyBytes, &body); err != nil {
				t.Fatal(err)
			}
			// The transaction a record file would hold, and what its hash
			// is taken over: the signed transaction's bytes, or for one
			// marked with the legacy hash algorithm (SignedTransaction
			// field 3, not in our subset: an unknown field here) a
			// Transaction of its sigMap and bodyBytes.
			hashed := pr.signed
			want := &hederapb.Transaction{SignedTransactionBytes: pr.signed}
			if legacy := protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1); bytes.Contains(st.ProtoReflect().GetUnknown(), legacy) {
				//lint:ignore SA1019 the legacy hash is taken over this deprecated form
				want = &hederapb.Transaction{SigMap: st.SigMap, BodyBytes: st.BodyBytes}
				if st.SigMap == nil {
					//lint:ignore SA1019 the legacy hash is taken over this deprecated form
					want.SigMap = &hederapb.SignatureMap{}
				}
				if hashed, err = proto.Marshal(want); err != nil {
					t.Fatal(err)
				}
				legacies++
			}
			var txn hederapb.Transaction
			if err := proto.Unmarshal(it.Transaction, &txn); err != nil || !proto.Equal(&txn, want) {
				t.Fatalf("%s: item %d: transaction %x, want %v (%v)", p, i, it.Transaction, want, err)
			}
			sum := sha512.Sum384(hashed)
			r := pr.result
			switch {
			case rec.GetReceipt().GetStatus() != r.GetStatus():
				t.Errorf("%s: item %d: status %v, result %v", p, i, rec.GetReceipt().GetStatus(), r.GetStatus())
			case !proto.Equal(rec.GetConsensusTimestamp(), r.GetConsensusTimestamp()) || it.ConsensusNs != r.GetConsensusTimestamp().GetSeconds()*1e9+int64(r.GetConsensusTimestamp().GetNanos()):
				t.Errorf("%s: item %d: consensus time differs", p, i)
			case rec.GetTransactionFee() != r.GetTransactionFeeCharged():
				t.Errorf("%s: item %d: fee %d, result %d", p, i, rec.GetTransactionFee(), r.GetTransactionFeeCharged())
			case !proto.Equal(rec.GetTransferList(), r.GetTransferList()):
				t.Errorf("%s: item %d: transfers differ", p, i)
			case len(rec.GetTokenTransferLists()) != len(r.GetTokenTransferLists()):
				t.Errorf("%s: item %d: token transfer lists differ", p, i)
			case !proto.Equal(rec.GetParentConsensusTimestamp(), r.GetParentConsensusTimestamp()):
				t.Errorf("%s: item %d: parent differs", p, i)
			case !bytes.Equal(rec.GetTransactionHash(), sum[:]):
				t.Errorf("%s: item %d: hash %x, SHA-384 of the signed transaction %x", p, i, rec.GetTransactionHash(), sum)
			case !proto.Equal(rec.GetTransactionID(), body.GetTransactionID()) || !bytes.Equal(rec.GetMemo(), body.GetMemo()):
				t.Errorf("%s: item %d: id or memo differ from the body's", p, i)
			}
			for _, o := range pr.outs {
				if a := o.GetAccountCreate(); a != nil && r.GetStatus() == hederapb.ResponseCodeEnum_SUCCESS &&
					!proto.Equal(rec.GetReceipt().GetAccountID(), a.GetCreatedAccountId()) {
					t.Errorf("%s: item %d: receipt account %v, output %v", p, i, rec.GetReceipt().GetAccountID(), a.GetCreatedAccountId())
				}
			}
			if _, meta := enc.Append(nil, txdoc.Source{File: filepath.Base(p)}, i, it, nil); meta.ParseError != "" {
				t.Errorf("%s: item %d: %s", p, i, meta.ParseError)
			}
		}
	}
	if legacies == 0 {
		t.Error("no transaction with the legacy hash algorithm: the fixtures hold some")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The topic message of a real block gets its sequence number and running
// hash from the topic's state change; the running hash is checked against
// the version 3 rule (the Topic message's documentation; the services'
// code writes the input through a Java ObjectOutputStream): SHA-384 of the
// previous running hash, the version, the payer's and the topic's shard,
// realm and number, the consensus seconds and nanos, the sequence number
// and SHA-384 of the message.
func TestTopicRunningHash(t *testing.T) {
	root := testkit.HederaFixtures(t)
	b := readBlock(t, filepath.Join(root, "hiero-block-node/test-blocks/CN_11_12_TSS_SCHNORR/2.blk.gz"))
	items, _, err := NewConverter().Convert(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, it := range items {
		var txn hederapb.Transaction
		var st hederapb.SignedTransaction
		var body hederapb.TransactionBody
		var rec hederapb.TransactionRecord
		for _, err := range []error{proto.Unmarshal(it.Transaction, &txn), proto.Unmarshal(txn.SignedTransactionBytes, &st),
			proto.Unmarshal(st.BodyBytes, &body), proto.Unmarshal(it.Record, &rec)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		msg := body.GetConsensusSubmitMessage()
		if msg == nil {
			continue
		}
		found++
		r := rec.GetReceipt()
		if r.GetTopicSequenceNumber() != 1 || r.GetTopicRunningHashVersion() != 3 {
			t.Fatalf("sequence %d, version %d; want the topic's first message, version 3", r.GetTopicSequenceNumber(), r.GetTopicRunningHashVersion())
		}
		// The node hashes these as a Java ObjectOutputStream writes them:
		// the stream header, the previous running hash as a byte[] object
		// (48 zero bytes before the first message), the numbers as one
		// block of data, SHA-384 of the message as a second byte[] (its
		// class by reference).
		var in bytes.Buffer
		in.Write([]byte{0xac, 0xed, 0x00, 0x05})
		in.Write([]byte{0x75, 0x72, 0x00, 0x02, '[', 'B', 0xac, 0xf3, 0x17, 0xf8, 0x06, 0x08, 0x54, 0xe0, 0x02, 0x00, 0x00, 0x78, 0x70, 0, 0, 0, 48})
		in.Write(make([]byte, 48))
		var block bytes.Buffer
		be := func(v any) { _ = binary.Write(&block, binary.BigEndian, v) }
		payer, topic := body.GetTransactionID().GetAccountID(), msg.GetTopicID()
		be(uint64(3))
		be(payer.GetShardNum())
		be(payer.GetRealmNum())
		be(payer.GetAccountNum())
		be(topic.GetShardNum())
		be(topic.GetRealmNum())
		be(topic.GetTopicNum())
		be(rec.GetConsensusTimestamp().GetSeconds())
		be(rec.GetConsensusTimestamp().GetNanos())
		be(r.GetTopicSequenceNumber())
		in.Write([]byte{0x77, byte(block.Len())})
		in.Write(block.Bytes())
		in.Write([]byte{0x75, 0x71, 0x00, 0x7e, 0x00, 0x00, 0, 0, 0, 48})
		m := sha512.Sum384(msg.GetMessage())
		in.Write(m[:])
		want := sha512.Sum384(in.Bytes())
		if !bytes.Equal(r.GetTopicRunningHash(), want[:]) {
			t.Errorf("running hash %x, want %x", r.GetTopicRunningHash(), want)
		}
	}
	if found != 1 {
		t.Fatalf("%d topic messages, want the block's one", found)
	}
}

// Creates of one unit take the ids its state changes hold, the later the
// create the higher the id: in the CN 0.78 genesis block the files created
// are exactly the files its state changes name, in rising order.
func TestCreatedFiles(t *testing.T) {
	root := testkit.HederaFixtures(t)
	b := readBlock(t, filepath.Join(root, "hiero-block-node/test-blocks/CN_11_12_TSS_SCHNORR/0.blk.gz"))
	items, _, err := NewConverter().Convert(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	var created []int64
	for _, it := range items {
		var rec hederapb.TransactionRecord
		if err := proto.Unmarshal(it.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if f := rec.GetReceipt().GetFileID(); f != nil {
			created = append(created, f.GetFileNum())
		}
	}
	// The files the state changes of the block name (FILES = 6).
	var pb hederapb.Block
	plain, _ := blockstream.NewReader(blockstream.Limits{}).Decompress("0.blk.gz", mustRead(t, filepath.Join(root, "hiero-block-node/test-blocks/CN_11_12_TSS_SCHNORR/0.blk.gz")), nil)
	if err := proto.Unmarshal(plain, &pb); err != nil {
		t.Fatal(err)
	}
	var named []int64
	for _, it := range pb.Items {
		for _, sc := range it.GetStateChanges().GetStateChanges() {
			if sc.GetStateId() == 6 && sc.GetMapUpdate() != nil {
				named = append(named, sc.GetMapUpdate().GetKey().GetFileIdKey().GetFileNum())
			}
		}
	}
	sort.Slice(named, func(a, b int) bool { return named[a] < named[b] })
	if len(created) == 0 || len(created) != len(named) {
		t.Fatalf("created %v, state changes name %v", created, named)
	}
	for i := range created {
		if created[i] != named[i] {
			t.Fatalf("created %v, state changes name %v (in rising order)", created, named)
		}
	}
}

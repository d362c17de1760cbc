package blockdoc

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/testkit"
)

// The published Keccak-256 values of Ethereum's tooling.
func TestKeccak256(t *testing.T) {
	for in, want := range map[string]string{
		"":    "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
		"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
		"The quick brown fox jumps over the lazy dog": "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
	} {
		if got := keccak256([]byte(in)); hex.EncodeToString(got[:]) != want {
			t.Errorf("keccak256(%q) = %x, want %s", in, got, want)
		}
	}
}

// The Ethereum transactions of the fixtures' eth-0.26.0 record files: the
// hash their records hold is Keccak-256 of the transaction's bytes, and
// each log's bloom (where a record has one) is the one computed from its
// contract's EVM address and its topics — the rules a block's records are
// built by.
func TestEthereumHashesAndBloomsOfRealRecords(t *testing.T) {
	dir := filepath.Join(testkit.HederaStreams(t), "eth-0.26.0", "record0.0.3")
	names, err := filepath.Glob(filepath.Join(dir, "*.rcd"))
	if err != nil || len(names) == 0 {
		t.Fatalf("eth-0.26.0 fixtures: %v %v", names, err)
	}
	hashes, blooms := 0, 0
	for _, path := range names {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := recordstream.Parse(filepath.Base(path), data)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range f.Items {
			var txn hederapb.Transaction
			var st hederapb.SignedTransaction
			var body hederapb.TransactionBody
			var rec hederapb.TransactionRecord
			for _, err := range []error{proto.Unmarshal(it.Transaction, &txn), proto.Unmarshal(it.Record, &rec)} {
				if err != nil {
					t.Fatal(err)
				}
			}
			//lint:ignore SA1019 the 2022 records hold this form
			bodyBytes := txn.GetBodyBytes()
			if len(txn.GetSignedTransactionBytes()) > 0 {
				if err := proto.Unmarshal(txn.GetSignedTransactionBytes(), &st); err != nil {
					t.Fatal(err)
				}
				bodyBytes = st.GetBodyBytes()
			}
			if err := proto.Unmarshal(bodyBytes, &body); err != nil {
				t.Fatal(err)
			}
			if eth := body.GetEthereumTransaction(); eth != nil && eth.GetCallData() == nil && len(rec.GetEthereumHash()) > 0 {
				if h := keccak256(eth.GetEthereumData()); !bytes.Equal(h[:], rec.GetEthereumHash()) {
					t.Errorf("%s: ethereum hash %x, Keccak-256 of its data %x", rec.GetConsensusTimestamp(), rec.GetEthereumHash(), h)
				}
				hashes++
			}
			res := rec.GetContractCallResult()
			if res == nil {
				res = rec.GetContractCreateResult()
			}
			for _, l := range res.GetLogInfo() {
				if len(l.GetBloom()) == 0 {
					continue
				}
				var bloom [bloomSize]byte
				addr, err := evmAddress(mustMarshal(t, l.GetContractID()))
				if err != nil {
					t.Fatal(err)
				}
				bloomAdd(&bloom, addr)
				for _, topic := range l.GetTopic() {
					var word [32]byte
					copy(word[32-len(topic):], topic)
					bloomAdd(&bloom, word[:])
				}
				if !bytes.Equal(bloom[:], l.GetBloom()) {
					t.Errorf("%s: log bloom differs from the one computed", rec.GetConsensusTimestamp())
				}
				blooms++
			}
		}
	}
	// The fixtures' contract results carry no logs (their blooms are
	// zero): the bloom rule is checked here only if a fixture with logs
	// comes.
	if hashes == 0 {
		t.Fatalf("%d Ethereum hashes checked: the fixtures hold some", hashes)
	}
	t.Logf("%d Ethereum hashes, %d log blooms", hashes, blooms)
}

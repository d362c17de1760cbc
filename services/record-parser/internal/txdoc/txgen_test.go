package txdoc_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream/txgen"
	"tributary.dev/services/record-parser/internal/txdoc"
)

var start = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func TestItemsMixTimesAndDeterminism(t *testing.T) {
	const n = 10_000
	items := txgen.Items(n, 7, start)
	if len(items) != n {
		t.Fatalf("%d items, asked for %d", len(items), n)
	}
	again := txgen.Items(n, 7, start)
	other := txgen.Items(n, 8, start)
	enc := txdoc.NewEncoder()
	names := map[string]int{}
	failed, size := 0, 0
	if items[0].ConsensusNs != start.UnixNano() {
		t.Fatalf("the first item is at %d, want start %d", items[0].ConsensusNs, start.UnixNano())
	}
	prev := start.UnixNano() - 1
	var buf []byte
	for i, it := range items {
		if it.ConsensusNs <= prev {
			t.Fatalf("item %d: consensus %d not after %d", i, it.ConsensusNs, prev)
		}
		prev = it.ConsensusNs
		if !bytes.Equal(it.Transaction, again[i].Transaction) || !bytes.Equal(it.Record, again[i].Record) {
			t.Fatalf("item %d differs between two runs with the same seed", i)
		}
		// The record's own consensus timestamp must be the item's.
		var rec hederapb.TransactionRecord
		if err := proto.Unmarshal(it.Record, &rec); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if got := rec.GetConsensusTimestamp().GetSeconds()*1e9 + int64(rec.GetConsensusTimestamp().GetNanos()); got != it.ConsensusNs {
			t.Fatalf("item %d: record consensus %d, item %d", i, got, it.ConsensusNs)
		}
		var meta txdoc.Meta
		buf, meta = enc.Append(buf[:0], txdoc.Source{File: "gen.rcd"}, i, it, nil)
		if meta.ParseError != "" || !json.Valid(buf) {
			t.Fatalf("item %d: %q %s", i, meta.ParseError, buf)
		}
		names[meta.Name]++
		if meta.Result != "SUCCESS" {
			failed++
		}
		size += len(it.Transaction) + len(it.Record)
	}
	same := 0
	for i := range items {
		if bytes.Equal(items[i].Record, other[i].Record) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d items equal under another seed", same)
	}
	t.Logf("types %v, failed %d, mean size %d bytes", names, failed, size/n)
	share := func(name string) float64 { return float64(names[name]) / n }
	for _, c := range []struct {
		name     string
		min, max float64
	}{
		{"CRYPTOTRANSFER", 0.45, 0.55},
		{"CONSENSUSSUBMITMESSAGE", 0.17, 0.23},
		{"CONTRACTCALL", 0.08, 0.12},
		{"ETHEREUMTRANSACTION", 0.035, 0.065},
		{"TOKENASSOCIATE", 0.035, 0.065},
	} {
		if s := share(c.name); s < c.min || s > c.max {
			t.Errorf("%s: share %.3f, want %.3f..%.3f", c.name, s, c.min, c.max)
		}
	}
	if f := float64(failed) / n; f < 0.015 || f > 0.045 {
		t.Errorf("failed share %.3f, want about 0.03", f)
	}
	if mean := size / n; mean < 200 || mean > 600 {
		t.Errorf("mean item size %d bytes, want 200..600", mean)
	}
}

// The kinds no fixture holds (token transfers, NFT transfers, token
// association, a failed result) checked field by field against the
// protobuf messages txgen built, decoded here independently of txdoc.
func TestGeneratedKindsFields(t *testing.T) {
	items := txgen.Items(3000, 3, start)
	enc := txdoc.NewEncoder()
	seen := map[string]bool{}
	for i, it := range items {
		var tx hederapb.Transaction
		var signed hederapb.SignedTransaction
		var body hederapb.TransactionBody
		var rec hederapb.TransactionRecord
		for _, step := range []error{
			proto.Unmarshal(it.Transaction, &tx),
			proto.Unmarshal(tx.GetSignedTransactionBytes(), &signed),
			proto.Unmarshal(signed.GetBodyBytes(), &body),
			proto.Unmarshal(it.Record, &rec),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
		out, meta := enc.Append(nil, txdoc.Source{File: "gen.rcd"}, i, it, nil)
		var doc struct {
			Result         string  `json:"result"`
			EntityID       *string `json:"entity_id"`
			TokenTransfers []struct {
				TokenID    string `json:"token_id"`
				Account    string `json:"account"`
				Amount     int64  `json:"amount"`
				IsApproval bool   `json:"is_approval"`
			} `json:"token_transfers"`
			NftTransfers []struct {
				Sender   *string `json:"sender_account_id"`
				Receiver *string `json:"receiver_account_id"`
				Serial   int64   `json:"serial_number"`
				TokenID  string  `json:"token_id"`
			} `json:"nft_transfers"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		if want := rec.GetReceipt().GetStatus().String(); doc.Result != want || meta.Result != want {
			t.Fatalf("item %d: result %q, record %q", i, doc.Result, want)
		}
		if doc.Result != "SUCCESS" {
			seen["failed"] = true
		}
		id := func(shard, realm, num int64) string {
			return txdoc.FormatEntity(shard, realm, num)
		}
		var wantTok, wantNft int
		for _, tl := range rec.GetTokenTransferLists() {
			tok := id(tl.GetToken().GetShardNum(), tl.GetToken().GetRealmNum(), tl.GetToken().GetTokenNum())
			for _, aa := range tl.GetTransfers() {
				got := doc.TokenTransfers[wantTok]
				a := aa.GetAccountID()
				if got.TokenID != tok || got.Account != id(a.GetShardNum(), a.GetRealmNum(), a.GetAccountNum()) || got.Amount != aa.GetAmount() || got.IsApproval != aa.GetIsApproval() {
					t.Errorf("item %d token transfer %d: %+v, record %v", i, wantTok, got, aa)
				}
				wantTok++
				seen["token"] = true
			}
			for _, nt := range tl.GetNftTransfers() {
				got := doc.NftTransfers[wantNft]
				s, r := nt.GetSenderAccountID(), nt.GetReceiverAccountID()
				if got.TokenID != tok || *got.Sender != id(s.GetShardNum(), s.GetRealmNum(), s.GetAccountNum()) || *got.Receiver != id(r.GetShardNum(), r.GetRealmNum(), r.GetAccountNum()) || got.Serial != nt.GetSerialNumber() {
					t.Errorf("item %d nft transfer %d: %+v, record %v", i, wantNft, got, nt)
				}
				wantNft++
				seen["nft"] = true
			}
		}
		if len(doc.TokenTransfers) != wantTok || len(doc.NftTransfers) != wantNft {
			t.Errorf("item %d: %d token and %d nft transfers, record has %d and %d", i, len(doc.TokenTransfers), len(doc.NftTransfers), wantTok, wantNft)
		}
		if ta := body.GetTokenAssociate(); ta != nil {
			if meta.Name != "TOKENASSOCIATE" {
				t.Errorf("item %d: name %q for a tokenAssociate body", i, meta.Name)
			}
			a := ta.GetAccount()
			if doc.EntityID == nil || *doc.EntityID != id(a.GetShardNum(), a.GetRealmNum(), a.GetAccountNum()) {
				t.Errorf("item %d: entity_id %v, associated account %v", i, doc.EntityID, a)
			}
			seen["associate"] = true
		}
	}
	for _, k := range []string{"failed", "token", "nft", "associate"} {
		if !seen[k] {
			t.Errorf("no %s item among %d", k, len(items))
		}
	}
}

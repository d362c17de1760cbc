package txdoc_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
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
	enc := txdoc.NewEncoder(txdoc.Options{})
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

// The kinds no fixture holds (token transfers, NFT transfers, approved
// transfers, custom fees, token association, a failed result) checked
// field by field against the protobuf messages txgen built, decoded here
// with the generated code, the expected values worked out from them by
// the mirror node's rules (EntityRecordItemListener: is_approval from the
// body's debits, token transfers kept for SUCCESS or FAIL_INVALID; REST
// order "by entity_id, amount" and "by token_id, account_id").
func TestGeneratedKindsFields(t *testing.T) {
	items := txgen.Items(3000, 3, start)
	enc := txdoc.NewEncoder(txdoc.Options{})
	seen := map[string]bool{}
	id := func(shard, realm, num int64) string {
		return txdoc.FormatEntity(shard, realm, num)
	}
	acctStr := func(a *hederapb.AccountID) string { return id(a.GetShardNum(), a.GetRealmNum(), a.GetAccountNum()) }
	type transfer struct {
		TokenID    string `json:"token_id,omitempty"`
		Account    string `json:"account"`
		Amount     int64  `json:"amount"`
		IsApproval bool   `json:"is_approval"`
	}
	type nft struct {
		IsApproval bool   `json:"is_approval"`
		Receiver   string `json:"receiver_account_id"`
		Sender     string `json:"sender_account_id"`
		Serial     int64  `json:"serial_number"`
		TokenID    string `json:"token_id"`
	}
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
			Result         string            `json:"result"`
			EntityID       *string           `json:"entity_id"`
			BatchKey       *string           `json:"batch_key"`
			MaxCustomFees  []json.RawMessage `json:"max_custom_fees"`
			Assessed       []json.RawMessage `json:"assessed_custom_fees"`
			Transfers      []transfer        `json:"transfers"`
			TokenTransfers []transfer        `json:"token_transfers"`
			NftTransfers   []nft             `json:"nft_transfers"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		status := rec.GetReceipt().GetStatus()
		if want := status.String(); doc.Result != want || meta.Result != want {
			t.Fatalf("item %d: result %q, record %q", i, doc.Result, want)
		}
		if doc.Result != "SUCCESS" {
			seen["failed"] = true
		}
		ct := body.GetCryptoTransfer()

		var wantHbar []transfer
		for _, aa := range rec.GetTransferList().GetAccountAmounts() {
			w := transfer{Account: acctStr(aa.GetAccountID()), Amount: aa.GetAmount()}
			if aa.GetAmount() < 0 {
				for _, b := range ct.GetTransfers().GetAccountAmounts() {
					if b.GetAmount() == aa.GetAmount() && proto.Equal(b.GetAccountID(), aa.GetAccountID()) {
						w.IsApproval = b.GetIsApproval()
						break
					}
				}
			}
			seen["approved hbar"] = seen["approved hbar"] || w.IsApproval
			wantHbar = append(wantHbar, w)
		}
		sort.SliceStable(wantHbar, func(a, b int) bool {
			x, y := wantHbar[a], wantHbar[b]
			return num(x.Account) < num(y.Account) || num(x.Account) == num(y.Account) && x.Amount < y.Amount
		})
		if !reflect.DeepEqual(doc.Transfers, wantHbar) && (len(doc.Transfers) > 0 || len(wantHbar) > 0) {
			t.Errorf("item %d transfers\n got %+v\nwant %+v", i, doc.Transfers, wantHbar)
		}

		committed := status == hederapb.ResponseCodeEnum_SUCCESS || status == hederapb.ResponseCodeEnum_FAIL_INVALID
		var wantTok []transfer
		var wantNft []nft
		for _, tl := range rec.GetTokenTransferLists() {
			if !committed {
				break
			}
			tok := id(tl.GetToken().GetShardNum(), tl.GetToken().GetRealmNum(), tl.GetToken().GetTokenNum())
			for _, aa := range tl.GetTransfers() {
				w := transfer{TokenID: tok, Account: acctStr(aa.GetAccountID()), Amount: aa.GetAmount()}
				if aa.GetAmount() < 0 {
					exact, approved := false, false
					for _, bl := range ct.GetTokenTransfers() {
						if !proto.Equal(bl.GetToken(), tl.GetToken()) {
							continue
						}
						for _, b := range bl.GetTransfers() {
							if !exact && proto.Equal(b, aa) {
								exact, w.IsApproval = true, b.GetIsApproval()
							}
							approved = approved || proto.Equal(b.GetAccountID(), aa.GetAccountID()) && b.GetIsApproval()
						}
					}
					if !exact {
						w.IsApproval = approved
					}
				}
				seen["approved token"] = seen["approved token"] || w.IsApproval
				wantTok = append(wantTok, w)
			}
			for _, n := range tl.GetNftTransfers() {
				w := nft{Receiver: acctStr(n.GetReceiverAccountID()), Sender: acctStr(n.GetSenderAccountID()), Serial: n.GetSerialNumber(), TokenID: tok}
				for _, bl := range ct.GetTokenTransfers() {
					for _, b := range bl.GetNftTransfers() {
						if proto.Equal(bl.GetToken(), tl.GetToken()) && b.GetSerialNumber() == n.GetSerialNumber() &&
							proto.Equal(b.GetReceiverAccountID(), n.GetReceiverAccountID()) && proto.Equal(b.GetSenderAccountID(), n.GetSenderAccountID()) {
							w.IsApproval = b.GetIsApproval()
						}
					}
				}
				seen["approved nft"] = seen["approved nft"] || w.IsApproval
				seen["nft"] = true
				wantNft = append(wantNft, w)
			}
		}
		sort.SliceStable(wantTok, func(a, b int) bool {
			return num(wantTok[a].TokenID) < num(wantTok[b].TokenID) || num(wantTok[a].TokenID) == num(wantTok[b].TokenID) && num(wantTok[a].Account) < num(wantTok[b].Account)
		})
		if len(wantTok) > 0 {
			seen["token"] = true
		}
		if !reflect.DeepEqual(doc.TokenTransfers, wantTok) && (len(doc.TokenTransfers) > 0 || len(wantTok) > 0) {
			t.Errorf("item %d token transfers\n got %+v\nwant %+v", i, doc.TokenTransfers, wantTok)
		}
		if !reflect.DeepEqual(doc.NftTransfers, wantNft) && (len(doc.NftTransfers) > 0 || len(wantNft) > 0) {
			t.Errorf("item %d nft transfers\n got %+v\nwant %+v", i, doc.NftTransfers, wantNft)
		}
		if n := len(rec.GetAssessedCustomFees()); committed && len(doc.Assessed) != n || !committed && doc.Assessed != nil {
			t.Errorf("item %d: %d assessed custom fees, record %d", i, len(doc.Assessed), n)
		} else if n > 0 {
			seen["assessed"] = true
		}
		var wantMax int
		for _, l := range body.GetMaxCustomFees() {
			wantMax += len(l.GetFees())
		}
		if len(doc.MaxCustomFees) != wantMax {
			t.Errorf("item %d: %d max custom fees, body %d", i, len(doc.MaxCustomFees), wantMax)
		} else if wantMax > 0 {
			seen["max fees"] = true
		}
		if (doc.BatchKey != nil) != (body.GetBatchKey() != nil) {
			t.Errorf("item %d: batch_key %v, body %v", i, doc.BatchKey, body.GetBatchKey())
		} else if doc.BatchKey != nil {
			seen["batch key"] = true
		}
		if ta := body.GetTokenAssociate(); ta != nil {
			if meta.Name != "TOKENASSOCIATE" {
				t.Errorf("item %d: name %q for a tokenAssociate body", i, meta.Name)
			}
			if doc.EntityID == nil || *doc.EntityID != acctStr(ta.GetAccount()) {
				t.Errorf("item %d: entity_id %v, associated account %v", i, doc.EntityID, ta.GetAccount())
			}
			seen["associate"] = true
		}
	}
	for _, k := range []string{"failed", "token", "nft", "associate", "approved hbar", "approved token", "approved nft", "assessed", "max fees", "batch key"} {
		if !seen[k] {
			t.Errorf("no %s item among %d", k, len(items))
		}
	}
}

// num is the number of a "0.0.n" id (txgen's ids are all shard 0 realm 0).
func num(s string) int64 {
	n, err := strconv.ParseInt(s[strings.LastIndexByte(s, '.')+1:], 10, 64)
	if err != nil {
		panic(s)
	}
	return n
}

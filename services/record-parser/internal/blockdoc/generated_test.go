package blockdoc

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/blockstream/blockgen"
	"tributary.dev/libs/recordstream/txgen"
	"tributary.dev/services/record-parser/internal/txdoc"
)

// The members a block carries as a record file does: a generated block
// (the record-stream generator's transactions as blockgen writes them in
// a block: result, account-create output, the payer's state change) gives
// the documents the same transactions give from a record file, member by
// member, but for what the generator's blocks do not carry (the topic's
// running hash, contract results: no topic state or EVM output is written)
// and the hash, which the record file's generator makes up.
func TestGeneratedBlockAsItsRecords(t *testing.T) {
	const perBlock, seed = 2000, 11
	gen := blockgen.New(blockgen.Options{Transactions: perBlock, Seed: seed, FirstBlock: 40})
	blk, err := gen.Next()
	if err != nil {
		t.Fatal(err)
	}
	b, err := blockstream.NewReader(blockstream.Limits{}).ParsePlain(blockstream.FileName(blk.Number, blockstream.Plain), blk.Plain)
	if err != nil {
		t.Fatal(err)
	}
	items, sum, err := NewConverter().Convert(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	records := txgen.Items(perBlock, seed+int64(blk.Number), blk.Time.Add(time.Millisecond))
	if len(items) != len(records) || sum.Count != perBlock {
		t.Fatalf("%d items, %d records", len(items), len(records))
	}
	enc := txdoc.NewEncoder(txdoc.Options{})
	members := []string{"consensus_timestamp", "transaction_id", "valid_start_timestamp", "valid_duration_seconds", "name", "result",
		"charged_tx_fee", "max_fee", "memo_base64", "node", "nonce", "scheduled", "parent_consensus_timestamp", "transfers",
		"token_transfers", "nft_transfers", "staking_reward_transfers"}
	types := map[string]int{}
	for i := range items {
		var fromBlock, fromRecord map[string]json.RawMessage
		line, meta := enc.Append(nil, txdoc.Source{File: "b"}, i, items[i], nil)
		if err := json.Unmarshal(line, &fromBlock); err != nil {
			t.Fatal(err)
		}
		line, _ = enc.Append(nil, txdoc.Source{File: "b"}, i, records[i], nil)
		if err := json.Unmarshal(line, &fromRecord); err != nil {
			t.Fatal(err)
		}
		types[meta.Name]++
		check := members
		if meta.Name != "ETHEREUMTRANSACTION" && meta.Name != "CONSENSUSSUBMITMESSAGE" {
			// entity_id comes from the receipt (a create's new account) or
			// the body; an Ethereum transaction's from its contract
			// result, a message's topic from the body too.
			check = append(check, "entity_id")
		}
		for _, m := range check {
			if string(fromBlock[m]) != string(fromRecord[m]) {
				t.Fatalf("transaction %d (%s): %s %s from the block, %s from the record", i, meta.Name, m, fromBlock[m], fromRecord[m])
			}
		}
	}
	// The generator's mix: the test saw more than transfers.
	for _, n := range []string{"CRYPTOTRANSFER", "CONSENSUSSUBMITMESSAGE", "CONTRACTCALL", "CRYPTOCREATEACCOUNT", "TOKENMINT"} {
		if types[n] == 0 {
			t.Errorf("no %s among %v", n, fmt.Sprint(types))
		}
	}
}

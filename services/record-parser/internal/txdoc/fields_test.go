package txdoc

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"tributary.dev/libs/hederapb"
)

// encodeFixture encodes item index of the fixture file rel (with its
// sidecars) and returns the document decoded.
func encodeFixture(t *testing.T, rel string, index int) map[string]any {
	t.Helper()
	exp := expected(t)[rel]
	f := readFixture(t, rel)
	var side map[int64][]*hederapb.TransactionSidecarRecord
	if len(exp.Sidecars) > 0 {
		side = SidecarsByConsensus(readSidecars(t, rel, exp))
	}
	it := f.Items[index]
	out, _ := NewEncoder(Options{}).Append(nil, source(rel, f), index, it, side[it.ConsensusNs])
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%s: %v: %s", rel, err, out)
	}
	return doc
}

// get walks a path like "transfers.1.amount" into a decoded document.
func get(doc any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch v := doc.(type) {
		case map[string]any:
			doc = v[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(v) {
				return "<missing>"
			}
			doc = v[i]
		default:
			return "<missing>"
		}
	}
	return doc
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Expected values below were read from the fixture bytes with
// `protoc --decode_raw` (amounts are sint64: zigzag-decoded by hand), the
// byte strings copied from its output as Go octal escapes.
func TestFixtureFields(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		index int
		want  map[string]any
	}{
		{"v2 crypto transfer", "v2/record0.0.3/2019-08-30T18_10_00.419072Z.rcd", 1, map[string]any{
			"consensus_timestamp":        "1567188600.762801000",
			"consensus_at":               "2019-08-30T18:10:00.762801000Z",
			"name":                       "CRYPTOTRANSFER",
			"result":                     "SUCCESS",
			"transaction_id":             "0.0.1301-1567188596-102732000",
			"valid_start_timestamp":      "1567188596.102732000",
			"valid_duration_seconds":     "120",
			"max_fee":                    "2900000000",
			"charged_tx_fee":             float64(84663),
			"node":                       "0.0.4",
			"entity_id":                  nil,
			"scheduled":                  false,
			"nonce":                      float64(0),
			"bytes":                      nil,
			"parent_consensus_timestamp": nil,
			"type":                       float64(14),
			"batch_key":                  nil,
			"max_custom_fees":            []any{},
			// The record lists 0.0.1301 -84663, 0.0.4 1796, 0.0.98 82867,
			// 0.0.1301 -8, 0.0.4 8; the mirror node serves them "order by
			// entity_id, amount" (rest/transactions.js cryptoTransferJsonAgg).
			"transfers.0.account":      "0.0.4",
			"transfers.0.amount":       float64(8),
			"transfers.1.account":      "0.0.4",
			"transfers.1.amount":       float64(1796),
			"transfers.2.account":      "0.0.98",
			"transfers.2.amount":       float64(82867),
			"transfers.3.account":      "0.0.1301",
			"transfers.3.amount":       float64(-84663),
			"transfers.4.account":      "0.0.1301",
			"transfers.4.amount":       float64(-8),
			"transfers.4.is_approval":  false,
			"transfers.5":              "<missing>",
			"transaction_hash":         b64("\330h\203\302o\177\240OB\342#\275\005NiLh\353\3537\262\034<\035v\242l\316\210:wU\264\322\023\235\221\311\202\033\272q\363\344\365\256\256+"),
			"token_transfers":          []any{},
			"nft_transfers":            []any{},
			"staking_reward_transfers": []any{},
			"record_file":              "2019-08-30T18_10_00.419072Z.rcd",
			"index_in_file":            float64(1),
		}},
		{"consensus submit message", "performance/v2/2020-02-09T18_30_00.000084Z.rcd", 0, map[string]any{
			"consensus_timestamp":                "1581273000.000084000",
			"name":                               "CONSENSUSSUBMITMESSAGE",
			"transaction_id":                     "0.0.167007-1581272997-545408000",
			"node":                               "0.0.5",
			"memo_base64":                        b64("Submit Message"),
			"entity_id":                          "0.0.166948",
			"topic_message.topic_id":             "0.0.166948",
			"topic_message.sequence_number":      float64(936118),
			"topic_message.running_hash":         b64("\306I\333$p\254\366\364\366\274\377\006'\201B\317\301\247\317\211\257=\352\326\267\330Q\364\032\227\313\201\005\377\264\020\276\376\343i}\000g\300\177X\360\351"),
			"topic_message.running_hash_version": float64(0),
			"topic_message.message":              b64("\366+s\020\376S\3369{/\0259\0351\374\360\343qM\331\363\207a\312Z\351\2608K\022"),
		}},
		{"v6 contract call with state-change sidecar", "v6/record0.0.3/2022-07-13T08_46_11.304284003Z.rcd.gz", 0, map[string]any{
			"consensus_timestamp":           "1657701971.304284003",
			"consensus_at":                  "2022-07-13T08:46:11.304284003Z",
			"block_number":                  float64(6),
			"name":                          "CONTRACTCALL",
			"result":                        "SUCCESS",
			"transaction_id":                "0.0.2-1657701910-000000144",
			"max_fee":                       "25577239",
			"charged_tx_fee":                float64(56493422),
			"node":                          "0.0.3",
			"entity_id":                     "0.0.1002",
			"transfers.0.account":           "0.0.2",
			"transfers.0.amount":            float64(-56493422),
			"transfers.1.account":           "0.0.98",
			"transfers.1.amount":            float64(56493422),
			"transaction_hash":              b64(":\361&\357\025d\033x^>\333P\030 \231Y\374lk\006=\352\245Z31\305H\234\333\343\033\344\0266q\354\366g-\022\252\205]K?\2168"),
			"contract_result.contract_id":   "0.0.1002",
			"contract_result.gas_used":      float64(800000),
			"contract_result.error_message": "",
			"contract_result.call_result":   "",
			"sidecars.0.type":               "CONTRACT_STATE_CHANGE",
			"sidecars.0.migration":          false,
			"sidecars.0.detail.contract_state_changes.0.contractID.contractNum": "1002",
			"sidecars.0.detail.contract_state_changes.1.contractID.contractNum": "1003",
		}},
		{"v6 child contract create with bytecode sidecar", "v6/record0.0.3/2022-07-13T08_46_11.304284003Z.rcd.gz", 1, map[string]any{
			"consensus_timestamp":        "1657701971.304284004",
			"name":                       "CONTRACTCREATEINSTANCE",
			"transaction_id":             "0.0.2-1657701910-000000144",
			"nonce":                      float64(1),
			"parent_consensus_timestamp": "1657701971.304284003",
			"entity_id":                  "0.0.1003",
			"sidecars.0.type":            "CONTRACT_BYTECODE",
			"sidecars.0.detail.contract_id.contractNum": "1003",
		}},
		// The freeze body holds start_time = 7 and freeze_type = 8 only:
		// no update_file, so FreezeTransactionHandler's
		// EntityId.of(update_file) is EMPTY, stored as null.
		{"freeze without an upgrade file", "v5v6/record0.0.3/2022-06-21T09_14_34.364804003Z.rcd", 0, map[string]any{
			"name":      "FREEZE",
			"type":      float64(23),
			"entity_id": nil,
		}},
		{"ethereum transaction", "eth-0.26.0/record0.0.3/2022-04-28T15_28_34.014499000Z.rcd", 4, map[string]any{
			"consensus_timestamp":         "1651159714.549303000",
			"name":                        "ETHEREUMTRANSACTION",
			"transaction_id":              "0.0.1001-1651159705-580893598",
			"max_fee":                     "200000000",
			"charged_tx_fee":              float64(2132474761),
			"entity_id":                   "0.0.1104",
			"ethereum.hash":               "0x" + hex.EncodeToString([]byte("5\"\231\242\372v\2775\024/\257J\nF\367\275\271s\241\276^\021\343\317\r\305\224-\330\325\232\331")),
			"ethereum.call_data_file_id":  nil,
			"ethereum.max_gas_allowance":  float64(0),
			"contract_result.contract_id": "0.0.1104",
			"contract_result.gas_used":    float64(3200000),
			"block_number":                "<missing>",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := encodeFixture(t, c.file, c.index)
			// TransactionDetail's assessed_custom_fees is absent when the
			// transaction has none (rest/transactions.js).
			if v, ok := doc["assessed_custom_fees"]; ok {
				t.Errorf("assessed_custom_fees present: %v", v)
			}
			for path, want := range c.want {
				got := get(doc, path)
				if path == "block_number" && want == "<missing>" {
					if _, ok := doc["block_number"]; ok {
						t.Errorf("block_number present in a v5 document: %v", doc["block_number"])
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
		})
	}
}

// The ethereum data is the body's ethereum_data bytes: an RLP-encoded
// transaction; its first and last bytes as protoc --decode_raw shows them.
func TestEthereumData(t *testing.T) {
	doc := encodeFixture(t, "eth-0.26.0/record0.0.3/2022-04-28T15_28_34.014499000Z.rcd", 4)
	data, err := base64.StdEncoding.DecodeString(get(doc, "ethereum.data").(string))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "\371\020\030\036\205mn.") || !strings.HasSuffix(string(data), "\016M\310V") {
		t.Errorf("ethereum.data %x…%x", data[:8], data[len(data)-4:])
	}
}

package blockstream

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"tributary.dev/libs/testkit"
)

// expectedBlock is blockstreams-expected.json's entry for one block file:
// values computed independently of this package and, where a public test
// asserts them, published (see the fixtures' README).
type expectedBlock struct {
	Format         string         `json:"format"`
	Era            string         `json:"era"`
	Compression    string         `json:"compression"`
	SizeUncompr    int64          `json:"size_uncompressed"`
	BlockNumber    uint64         `json:"block_number"`
	HAPI           string         `json:"hapi_proto_version"`
	Software       *string        `json:"software_version"`
	TimestampNs    int64          `json:"block_timestamp_ns"`
	ItemsTotal     int            `json:"block_items_total"`
	ItemsByKind    map[string]int `json:"block_items_by_kind"`
	RoundStart     *uint64        `json:"round_start"`
	RoundEnd       *uint64        `json:"round_end"`
	FirstConsensus *int64         `json:"first_consensus_ns"`
	LastConsensus  *int64         `json:"last_consensus_ns"`
	Footer         *expectedFoot  `json:"footer"`
	PreviousHash   string         `json:"previous_hash"`
	RootHash       string         `json:"root_hash"`
	OtherAlgorithm map[string]any `json:"root_hash_other_algorithm"`
	ProofItems     int            `json:"block_proof_items"`
	Proof          expectedProof  `json:"proof"`
	Transactions   *struct {
		Count int `json:"count"`
	} `json:"transactions"`
	RecordFile *expectedRecordFile `json:"record_file"`
	Ledger     *struct {
		LedgerID      string `json:"ledger_id"`
		VerifyKeyLen  int    `json:"history_proof_verification_key_length"`
		Contributions []struct {
			NodeID uint64 `json:"node_id"`
			Weight uint64 `json:"weight"`
			KeyLen int    `json:"history_proof_key_length"`
		} `json:"node_contributions"`
	} `json:"ledger_id_publication"`
}

type expectedFoot struct {
	Previous string `json:"previous_block_root_hash"`
	AllPrev  string `json:"root_hash_of_all_block_hashes_tree"`
	State    string `json:"start_of_block_state_root_hash"`
}

type expectedProof struct {
	Block          *uint64  `json:"block"`
	Kind           string   `json:"kind"`
	SigLen         int      `json:"signature_length"`
	SigIsSHA384    *bool    `json:"signature_is_sha384_of_root_hash"`
	Paths          int      `json:"merkle_paths"`
	Siblings       []int    `json:"siblings_per_path"`
	NextPathIndex  []uint32 `json:"next_path_index"`
	Path1OwnRoot   *bool    `json:"path1_hash_equals_own_root"`
	ProvenRoot     string   `json:"proven_root_hash"`
	RecordVersion  int      `json:"record_file_version"`
	Signatures     int      `json:"record_file_signatures"`
	SignatureNodes []int64  `json:"signature_node_ids"`
}

type expectedRecordFile struct {
	Name           string `json:"name"`
	Version        int    `json:"version"`
	CreationTimeNs int64  `json:"creation_time_ns"`
	FileHash       string `json:"file_hash"`
	Hash           string `json:"hash"`
	PreviousHash   string `json:"previous_hash"`
	Size           int64  `json:"reconstructed_size"`
	Count          int    `json:"count"`
	ConsensusStart int64  `json:"consensus_start_ns"`
	ConsensusEnd   int64  `json:"consensus_end_ns"`
	HAPI           string `json:"hapi_version"`
	BlockNumber    *int64 `json:"record_stream_file_block_number"`
	Amendments     int    `json:"amendments"`
	Sidecars       []struct {
		ID      int32   `json:"id"`
		Types   []int32 `json:"types"`
		Hash    string  `json:"hash"`
		Size    int64   `json:"size"`
		Records int     `json:"records"`
	} `json:"sidecars"`
	RSAByBook map[string][]int64 `json:"rsa_signatures_verified_by_address_book"`
}

type expectedChain struct {
	Previous string `json:"previous"`
	Next     string `json:"next"`
	Equal    bool   `json:"next_previous_hash_equals_root_hash"`
	RootHash string `json:"root_hash"`
}

type expectedDoc struct {
	Files  map[string]expectedBlock `json:"files"`
	Chains []expectedChain          `json:"chains"`
}

func loadExpected(t testing.TB) (string, expectedDoc) {
	t.Helper()
	root := testkit.HederaFixtures(t)
	raw, err := os.ReadFile(filepath.Join(root, "blockstreams-expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc expectedDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("blockstreams-expected.json: %v", err)
	}
	if len(doc.Files) < 30 || len(doc.Chains) < 15 {
		t.Fatalf("blockstreams-expected.json lists %d files and %d chains: is it complete?", len(doc.Files), len(doc.Chains))
	}
	return root, doc
}

// current says whether an entry is of a layout this package reads (the
// others are pre-release streams, refused).
func (e expectedBlock) current() bool { return e.Era == "HEAD" || e.Era == "BN16" }

// sortedNames lists the entries in a stable order.
func sortedNames(doc expectedDoc) []string {
	names := make([]string, 0, len(doc.Files))
	for n := range doc.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func readFixtureBlock(t testing.TB, root, name string) (*Block, error) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Read(name, f)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// otherHash is the root hash an entry gives under the algorithm of the
// other era.
func (e expectedBlock) hashUnder(a Algorithm) string {
	mine := EightLeaf
	if e.Era == "BN16" {
		mine = SixteenLeaf
	}
	if a == mine {
		return e.RootHash
	}
	key := "BN16"
	if a == EightLeaf {
		key = "HEAD"
	}
	s, _ := e.OtherAlgorithm[key].(string)
	return s
}

func base(name string) string { return name[strings.LastIndex(name, "/")+1:] }

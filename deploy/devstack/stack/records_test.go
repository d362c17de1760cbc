package stack

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/blockstream"
	"tributary.dev/libs/hederapb/blocknodepb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/testkit"
)

func readObject(t *testing.T, store blob.Store, key string) []byte {
	t.Helper()
	rc, err := store.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func listKeys(t *testing.T, store blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := store.List(context.Background(), prefix, "", func(o blob.Object) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// What make run puts in the record bucket is what a record-downloader
// can verify: the fixture datasets laid out per node, and a trickle of
// generated files, closed before they appear, that chain and verify with
// the address book the devstack writes.
func TestSeedRecords(t *testing.T) {
	fixtures := filepath.Join(testkit.HederaFixtures(t), "hedera-mirror-node")
	srv, name := testkit.GCS(t)
	store, err := blob.Open(context.Background(), testkit.GCSBucket(srv, name))
	if err != nil {
		t.Fatal(err)
	}
	st := &Stack{log: zap.NewNop(), dir: t.TempDir(), Fixtures: fixtures}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := st.seedRecords(ctx, store, testBlockSink(t, srv), 200*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}

	fx := listKeys(t, store, FixtureRecordPrefix)
	if len(fx) != 94 {
		t.Fatalf("%d fixture objects in the bucket, want 94 (every file of every dataset)", len(fx))
	}
	// Bucket key -> the fixture file below recordstreams/.
	for k, file := range map[string]string{
		"fixtures/v6/record0.0.6/sidecar/2022-07-13T08_46_11.304284003Z_01.rcd.gz": "v6/record0.0.6/sidecar/2022-07-13T08_46_11.304284003Z_01.rcd.gz",
		"fixtures/v2/record0.0.3/2019-08-30T18_10_00.419072Z.rcd_sig":              "v2/record0.0.3/2019-08-30T18_10_00.419072Z.rcd_sig",
		"fixtures/performance-v2/record0.0.3/2020-02-09T18_30_10.001022Z.rcd":      "performance/v2/2020-02-09T18_30_10.001022Z.rcd",
		"fixtures/eth-0.26.0/record0.0.3/2022-04-28T15_28_40.210859000Z.rcd":       "eth-0.26.0/record0.0.3/2022-04-28T15_28_40.210859000Z.rcd",
	} {
		want, err := os.ReadFile(filepath.Join(fixtures, "recordstreams", filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		if got := readObject(t, store, k); !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes in the bucket, not the fixture's %d", k, len(got), len(want))
		}
	}

	// Wait (generously: the machine is shared) for a few trickle files.
	var records []string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		records = records[:0]
		for _, k := range listKeys(t, store, LiveRecordPrefix+"record0.0.5/") {
			if strings.HasSuffix(k, ".rcd.gz") && !strings.Contains(k, "/sidecar/") {
				records = append(records, k)
			}
		}
		if len(records) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trickle wrote %d files for node 0.0.5 in 2 minutes, want 4", len(records))
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen := time.Now()
	cancel()
	sort.Strings(records)

	bookBytes, err := os.ReadFile(st.GeneratedAddressBook())
	if err != nil {
		t.Fatal(err)
	}
	book, err := recordstream.ReadAddressBook("generated", bytes.NewReader(bookBytes))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(book.Nodes()); n != TrickleNodes {
		t.Fatalf("generated address book has %d nodes, want %d", n, TrickleNodes)
	}
	for _, account := range strings.Split(trickleNodes(), ",") {
		var prev *recordstream.RecordFile
		for _, k := range records[:4] {
			k = strings.Replace(k, "record0.0.5/", "record"+account+"/", 1)
			rf, err := recordstream.Parse(k, readObject(t, store, k))
			if err != nil {
				t.Fatal(err)
			}
			sigKey := streamgen.SignatureName(k)
			sig, err := recordstream.ParseSignature(sigKey, readObject(t, store, sigKey))
			if err != nil {
				t.Fatal(err)
			}
			if err := book.Verify(account, sig); err != nil {
				t.Fatal(err)
			}
			if err := rf.Matches(sig); err != nil {
				t.Fatal(err)
			}
			if prev != nil {
				if err := recordstream.Follows(prev, rf); err != nil {
					t.Fatal(err)
				}
			}
			if end := time.Unix(0, rf.ConsensusEnd); !end.Before(seen) {
				t.Fatalf("%s was in the bucket before its last transaction (%v)", k, end)
			}
			for _, sc := range rf.Sidecars {
				key := filepath.ToSlash(filepath.Join(filepath.Dir(k), "sidecar", sc.Name))
				side, err := recordstream.ParseSidecar(key, readObject(t, store, key))
				if err != nil {
					t.Fatal(err)
				}
				if err := sc.Check(side); err != nil {
					t.Fatal(err)
				}
			}
			prev = rf
		}
	}
}

// testBlockSink is a block bucket on srv and a block-node stand-in.
func testBlockSink(t *testing.T, srv *fakestorage.Server) *blockSink {
	t.Helper()
	name := "blocks-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	store, err := blob.Open(context.Background(), testkit.GCSBucket(srv, name))
	if err != nil {
		t.Fatal(err)
	}
	return &blockSink{store: store, node: testkit.BlockNode(t)}
}

// The trickle's network cuts over: record files 1…3, each with its
// wrapped record block (in the block bucket and on the block node), then
// no more record files but blocks 4, 5, … whose first names the root hash
// of record file 3's wrapped record block; every block reads, chains, and
// each wrapped one holds the record file of its number, signed by the
// trickle's nodes.
func TestTrickleCutover(t *testing.T) {
	srv, name := testkit.GCS(t)
	store, err := blob.Open(context.Background(), testkit.GCSBucket(srv, name))
	if err != nil {
		t.Fatal(err)
	}
	sink := testBlockSink(t, srv)
	st := &Stack{log: zaptest.NewLogger(t), dir: t.TempDir(), Fixtures: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := st.seedRecords(ctx, store, sink, 100*time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	key := func(n uint64) string {
		return BlockNetworkFolder + "/block/" + blockstream.ObjectPath(n, blockstream.Zstd)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if keys := listKeys(t, sink.store, key(6)); len(keys) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the trickle did not reach block 6 in 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The trickle goes on (blocks 7, 8, …) until the test ends: stopping it
	// here could catch block 6 between the bucket and the block node.
	var records []string
	for _, k := range listKeys(t, store, LiveRecordPrefix+"record0.0.3/") {
		if strings.HasSuffix(k, ".rcd.gz") && !strings.Contains(k, "/sidecar/") {
			records = append(records, k)
		}
	}
	if len(records) != 3 {
		t.Fatalf("record files %v, want 3 before the cutover", records)
	}
	sort.Strings(records)
	bookBytes, err := os.ReadFile(st.GeneratedAddressBook())
	if err != nil {
		t.Fatal(err)
	}
	book, err := recordstream.ReadAddressBook("generated", bytes.NewReader(bookBytes))
	if err != nil {
		t.Fatal(err)
	}
	v := &blockstream.ProofVerifier{Books: recordstream.NewBookHistory(book, "generated"), AllowPlaceholder: true}
	chain := &blockstream.Chain{}
	for n := uint64(1); n <= 6; n++ {
		b, err := blockstream.Parse(key(n), readObject(t, sink.store, key(n)))
		if err != nil {
			t.Fatal(err)
		}
		root, alg, err := b.RootHash()
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.Append(b, root); err != nil {
			t.Fatal(err)
		}
		verdict, err := v.Verify(b, root, alg)
		if err != nil {
			t.Fatal(err)
		}
		if b.Wrapped != (n <= 3) {
			t.Fatalf("block %d wrapped %v", n, b.Wrapped)
		}
		if n <= 3 {
			rf, err := recordstream.Parse(records[n-1], readObject(t, store, records[n-1]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(verdict.Wrapped.File.FileHash, rf.FileHash) || rf.BlockNumber != int64(n) {
				t.Fatalf("wrapped block %d holds file hash %x, record file %s (block %d) has %x", n, verdict.Wrapped.File.FileHash, records[n-1], rf.BlockNumber, rf.FileHash)
			}
		}
	}
	// The block node holds the same blocks, from the first wrapped one.
	conn, err := grpc.NewClient(sink.node.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A block goes to the bucket first, then to the node: block 6 may reach
	// the node a moment after the bucket listed it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, err := blocknodepb.NewBlockNodeServiceClient(conn).ServerStatus(context.Background(), &blocknodepb.ServerStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if status.FirstAvailableBlock == 1 && status.LastAvailableBlock >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the block node holds %d…%d, want 1…6 or more", status.FirstAvailableBlock, status.LastAvailableBlock)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

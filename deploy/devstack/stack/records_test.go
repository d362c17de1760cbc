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

	"tributary.dev/libs/blob"
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
	if err := st.seedRecords(ctx, store, 200*time.Millisecond); err != nil {
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

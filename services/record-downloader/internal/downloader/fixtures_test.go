package downloader

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
)

// The real node-signed fixtures, served from fake-gcs-server in the
// buckets' layout: every record/signature pair of every node must verify.
// Each node is read on its own (NODES=<node>) with a ratio of one node of
// the dataset's four-node book, so each node's record file is downloaded
// and checked against its own signature — 45 pairs — and the agreed hash
// must be the one expected.json gives. The chain decides how far each
// node's stream goes: where expected.json says a file does not start from
// what the one before ends with (eth-0.26.0), the files before it are
// written and the stream waits on the chain at it.
func TestFixturesVerify(t *testing.T) {
	root := fixtures(t)
	var expected struct {
		Files map[string]struct {
			Version  int    `json:"version"`
			FileHash string `json:"file_hash"`
			End      string `json:"end"`
			Prev     string `json:"prev"`
		} `json:"files"`
	}
	b, err := os.ReadFile(filepath.Join(root, "..", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &expected); err != nil {
		t.Fatal(err)
	}
	books := map[string]*recordstream.AddressBook{}
	book := func(name string) *recordstream.AddressBook {
		if books[name] == nil {
			f, err := os.Open(filepath.Join(root, "addressbook", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if books[name], err = recordstream.ReadAddressBook(name, f); err != nil {
				t.Fatal(err)
			}
		}
		return books[name]
	}
	four := []string{"0.0.3", "0.0.4", "0.0.5", "0.0.6"}
	pairs := 0
	for _, ds := range []struct {
		dir, book string
		nodes     []string
		flat      bool // the files sit in the directory itself: node 0.0.3's
	}{
		{"v2", "testnet", four, false},
		{"v5", "testnet", four, false},
		{"v6", "test-v6-sidecar-4n.bin", four, false},
		{"v2v5", "testnet", four, false},
		{"v5v6", "test-v6-4n.bin", four, false},
		{"eth-0.26.0", "test-v6-4n.bin", []string{"0.0.3"}, false},
		{"performance/v2", "testnet", []string{"0.0.3"}, true},
	} {
		t.Run(strings.ReplaceAll(ds.dir, "/", "_"), func(t *testing.T) {
			store := gcsStore(t)
			p := prefix
			if ds.flat {
				p += "record0.0.3/"
			}
			objs, err := streamgen.DirObjects(filepath.Join(root, "recordstreams", ds.dir), p)
			if err != nil {
				t.Fatal(err)
			}
			upload(t, store, objs)
			for _, node := range ds.nodes {
				e := newEnv(t, store, book(ds.book), []string{node}, "1/4")
				res := e.pass()
				if got := testutil.ToFloat64(e.m.SigFailures.WithLabelValues(node)); got != 0 {
					t.Errorf("node %s: %v signature failures", node, got)
				}
				if q := total(e.m.Quarantined); q != 0 {
					t.Errorf("node %s: %v files quarantined: %v", node, q, e.files())
				}
				// The node's record files in consensus order (names of one
				// dataset have fractions of one length), as far as the
				// chain expected.json gives goes.
				var all []string
				for _, o := range objs {
					if strings.Contains(o.Key, "/record"+node+"/") && !strings.Contains(o.Key, "/sidecar/") && !strings.HasSuffix(o.Key, "_sig") {
						all = append(all, o.Key[strings.LastIndexByte(o.Key, '/')+1:])
					}
				}
				sort.Strings(all)
				var want []string
				waitAt := ""
				for i, name := range all {
					exp := expected.Files[expKey(ds.dir, ds.flat, name)]
					if i > 0 {
						prev := expected.Files[expKey(ds.dir, ds.flat, all[i-1])]
						chain := prev.End
						if prev.Version == 2 {
							chain = prev.FileHash
						}
						if exp.Prev != chain {
							waitAt = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".rcd")
							break
						}
					}
					want = append(want, name[:10]+"/"+name)
				}
				if got := e.records(); strings.Join(got, " ") != strings.Join(want, " ") || len(got) == 0 {
					t.Fatalf("node %s: records written %v, want %v", node, got, want)
				}
				if res.Waiting != waitAt || res.WaitingOnChain != (waitAt != "") {
					t.Errorf("node %s: waiting at %q (on the chain: %v), want %q", node, res.Waiting, res.WaitingOnChain, waitAt)
				}
				pairs += len(want)
				if waitAt != "" {
					pairs++ // the file waited at verified too: it reached consensus
				}
				if res.Files != len(want) {
					t.Errorf("node %s: result says %d files, want %d", node, res.Files, len(want))
				}
				// The events: per record file its signature, sidecars and
				// itself, each valid against the schema, the agreed hash
				// the one the fixtures' expected values give.
				events := e.events()
				records := 0
				for _, ev := range events {
					if ev.Node != node[4:] || len(ev.Signers) != 1 || ev.Signers[0] != node[4:] {
						t.Errorf("event %+v: want node and signer %s", ev, node)
					}
					if _, err := os.Stat(filepath.Join(e.dest, ev.Path)); err != nil {
						t.Errorf("event for %s: %v", ev.Path, err)
					}
					if ev.Kind != "record" {
						continue
					}
					records++
					if node == "0.0.3" {
						key := ds.dir + "/record0.0.3/" + ev.Object[strings.LastIndexByte(ev.Object, '/')+1:]
						if ds.flat {
							key = ds.dir + "/" + ev.Object[strings.LastIndexByte(ev.Object, '/')+1:]
						}
						exp, ok := expected.Files[key]
						if !ok {
							t.Errorf("expected.json has no %s", key)
						} else if exp.FileHash != ev.FileHash {
							t.Errorf("%s: agreed hash %s, expected.json says %s", key, ev.FileHash, exp.FileHash)
						}
					}
				}
				if records != len(want) {
					t.Errorf("node %s: %d record events, want %d", node, records, len(want))
				}
				if ds.dir == "v6" {
					// The second v6 file has one sidecar, checked against
					// the hash its record file lists.
					sc := "2022-07-13/sidecar/2022-07-13T08_46_11.304284003Z_01.rcd.gz"
					if _, err := os.Stat(filepath.Join(e.dest, sc)); err != nil {
						t.Errorf("node %s: sidecar not written: %v", node, err)
					}
				}
			}
		})
	}
	if !t.Failed() && pairs != 45 {
		t.Errorf("%d record/signature pairs verified, want the fixtures' 45", pairs)
	}
}

// expKey is a fixture file's key in expected.json (node 0.0.3's copy:
// every node's record file has the same content).
func expKey(dir string, flat bool, name string) string {
	if flat {
		return dir + "/" + name
	}
	return dir + "/record0.0.3/" + name
}

package streamgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/txgen"
	"tributary.dev/libs/testkit"
)

var errMissing = errors.New("object missing")

// bucket is a set of objects by key, as a test reads them back.
type bucket map[string][]byte

func toBucket(objs []Object) bucket {
	b := bucket{}
	for _, o := range objs {
		b[o.Key] = o.Body
	}
	return b
}

// recordNames lists the record files directly in dir, in name order.
func (b bucket) recordNames(dir string) []string {
	var names []string
	for k := range b {
		rest, ok := strings.CutPrefix(k, dir)
		if ok && !strings.Contains(rest, "/") && (strings.HasSuffix(rest, ".rcd") || strings.HasSuffix(rest, ".rcd.gz")) {
			names = append(names, rest)
		}
	}
	sort.Strings(names)
	return names
}

// checkFile is everything a reader checks of one node's copy of one
// record file, with libs/recordstream alone: the signature file reads and
// verifies with the node's key, the record file reads (its running hash
// consistent), is the file the signature signs, continues prev, and each
// sidecar it lists is there with the listed hash. The same function
// judges the real fixtures and generated files.
func checkFile(b bucket, book *recordstream.AddressBook, dir, account, name string, prev *recordstream.RecordFile) (*recordstream.RecordFile, error) {
	sigKey := dir + SignatureName(name)
	sigBody, ok := b[sigKey]
	if !ok {
		return nil, fmt.Errorf("%s: %w", sigKey, errMissing)
	}
	sig, err := recordstream.ParseSignature(sigKey, sigBody)
	if err != nil {
		return nil, err
	}
	if err := book.Verify(account, sig); err != nil {
		return nil, err
	}
	recBody, ok := b[dir+name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", dir+name, errMissing)
	}
	rf, err := recordstream.Parse(dir+name, recBody)
	if err != nil {
		return nil, err
	}
	if err := rf.Matches(sig); err != nil {
		return rf, err
	}
	if prev != nil {
		if err := recordstream.Follows(prev, rf); err != nil {
			return rf, err
		}
	}
	for _, meta := range rf.Sidecars {
		key := dir + "sidecar/" + meta.Name
		body, ok := b[key]
		if !ok {
			return rf, fmt.Errorf("%s: %w", key, errMissing)
		}
		sc, err := recordstream.ParseSidecar(key, body)
		if err != nil {
			return rf, err
		}
		if err := meta.Check(sc); err != nil {
			return rf, err
		}
	}
	return rf, nil
}

// checkNode checks a node's whole stream in order and returns its files.
func checkNode(t *testing.T, b bucket, book *recordstream.AddressBook, prefix, account string) []*recordstream.RecordFile {
	t.Helper()
	dir := NodeDir(prefix, account)
	var files []*recordstream.RecordFile
	var prev *recordstream.RecordFile
	for _, name := range b.recordNames(dir) {
		rf, err := checkFile(b, book, dir, account, name, prev)
		if err != nil {
			t.Fatalf("node %s: %v", account, err)
		}
		files = append(files, rf)
		prev = rf
	}
	return files
}

func fixtures(t *testing.T) string {
	t.Helper()
	return filepath.Join(testkit.HederaFixtures(t), "hedera-mirror-node")
}

func readBook(t *testing.T, name string, data []byte) *recordstream.AddressBook {
	t.Helper()
	book, err := recordstream.ReadAddressBook(name, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return book
}

func network(t *testing.T, n int) *Network {
	t.Helper()
	net, err := NewNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func generate(t *testing.T, g *Generator, n int) []*File {
	t.Helper()
	var files []*File
	for range n {
		f, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

func objects(t *testing.T, files []*File, prefix string) []Object {
	t.Helper()
	var all []Object
	for _, f := range files {
		objs, err := f.Objects(prefix)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, objs...)
	}
	return all
}

// The checker accepts the real node-signed v6 files with their sidecar:
// what it accepts of generated files is what real files are.
func TestCheckerAcceptsFixtures(t *testing.T) {
	root := fixtures(t)
	objs, err := DirObjects(filepath.Join(root, "recordstreams", "v6"), "recordstreams/")
	if err != nil {
		t.Fatal(err)
	}
	bookBytes, err := os.ReadFile(filepath.Join(root, "addressbook", "test-v6-sidecar-4n.bin"))
	if err != nil {
		t.Fatal(err)
	}
	book := readBook(t, "test-v6-sidecar-4n.bin", bookBytes)
	b := toBucket(objs)
	for _, account := range []string{"0.0.3", "0.0.4", "0.0.5", "0.0.6"} {
		files := checkNode(t, b, book, "recordstreams/", account)
		if len(files) != 2 || len(files[1].Sidecars) != 1 {
			t.Fatalf("node %s: %d fixture files checked (second with %d sidecars), want 2 and 1", account, len(files), len(files[len(files)-1].Sidecars))
		}
	}
}

func TestGeneratedStreamVerifies(t *testing.T) {
	net := network(t, 4)
	start := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	g := net.Stream(Options{Start: start, Items: 5, TxBytes: 100, SidecarEvery: 2, FirstBlock: 40})
	files := generate(t, g, 6)

	// The address book and PEM keys read back to the network's keys.
	bookBytes, err := net.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	book := readBook(t, "generated-book", bookBytes)
	if got := len(book.Nodes()); got != 4 {
		t.Fatalf("address book has %d nodes, want 4", got)
	}
	for i, node := range book.Nodes() {
		want := net.Nodes[i]
		if node.Account != want.Account || node.NodeID != want.NodeID || !node.Key.Equal(&want.Key.PublicKey) {
			t.Fatalf("address book node %d = %s id %d, want %s id %d with its key", i, node.Account, node.NodeID, want.Account, want.NodeID)
		}
		pemBytes, err := net.PublicKeyPEM(node.Account)
		if err != nil {
			t.Fatal(err)
		}
		key, err := recordstream.ParsePublicKeyPEM(pemBytes)
		if err != nil || !key.Equal(node.Key) {
			t.Fatalf("PEM key of %s reads back as %v, %v", node.Account, key, err)
		}
	}

	objs := objects(t, files, "recordstreams/")
	b := toBucket(objs)
	wantKeys := map[string]bool{}
	for _, f := range files {
		for _, a := range net.Accounts() {
			wantKeys["recordstreams/record"+a+"/"+f.Name] = true
			wantKeys["recordstreams/record"+a+"/"+strings.TrimSuffix(f.Name, ".gz")+"_sig"] = true
			for _, sc := range f.Sidecars {
				wantKeys["recordstreams/record"+a+"/sidecar/"+sc.Name] = true
			}
		}
	}
	if len(b) != len(wantKeys) || len(objs) != len(wantKeys) {
		t.Fatalf("%d objects (%d keys), want %d", len(objs), len(b), len(wantKeys))
	}
	for k := range wantKeys {
		if _, ok := b[k]; !ok {
			t.Fatalf("object %s missing", k)
		}
	}

	var perNode [][]*recordstream.RecordFile
	for _, a := range net.Accounts() {
		perNode = append(perNode, checkNode(t, b, book, "recordstreams/", a))
	}
	for i, f := range files {
		wantName := start.Add(time.Duration(i)*2*time.Second).Format("2006-01-02T15_04_05.000000000Z") + ".rcd.gz"
		if f.Name != wantName {
			t.Fatalf("file %d is named %s, want %s", i, f.Name, wantName)
		}
		nt, err := recordstream.NameTime(f.Name)
		if err != nil || !nt.Equal(f.Consensus) {
			t.Fatalf("%s: name time %v, %v; want %v", f.Name, nt, err, f.Consensus)
		}
		if wantSidecars := map[bool]int{true: 1, false: 0}[i%2 == 0]; len(f.Sidecars) != wantSidecars {
			t.Fatalf("%s has %d sidecars, want %d", f.Name, len(f.Sidecars), wantSidecars)
		}
		for n, files := range perNode {
			rf := files[i]
			if rf.Version != 6 || len(rf.Items) != 5 || rf.BlockNumber != int64(40+i) {
				t.Fatalf("node %d file %d: version %d, %d items, block %d", n, i, rf.Version, len(rf.Items), rf.BlockNumber)
			}
			if rf.ConsensusStart != f.Consensus.UnixNano() || rf.ConsensusEnd >= f.Consensus.Add(2*time.Second).UnixNano() {
				t.Fatalf("node %d file %d: consensus %d..%d, want from %d and before the next file", n, i, rf.ConsensusStart, rf.ConsensusEnd, f.Consensus.UnixNano())
			}
			if !bytes.Equal(rf.FileHash, f.Record.FileHash) || !bytes.Equal(rf.MetadataHash, f.Record.MetadataHash) {
				t.Fatalf("node %d file %d: hashes differ from the generator's", n, i)
			}
		}
		// Each node gzips its own copy: the bytes differ, the content not.
		g3, g4 := b["recordstreams/record0.0.3/"+f.Name], b["recordstreams/record0.0.4/"+f.Name]
		if bytes.Equal(g3, g4) {
			t.Fatalf("%s: nodes 0.0.3 and 0.0.4 hold identical gzip bytes; their mtimes should differ", f.Name)
		}
		if !bytes.Equal(gunzip(t, g3), gunzip(t, g4)) || !bytes.Equal(gunzip(t, g3), f.Plain) {
			t.Fatalf("%s: decompressed copies differ", f.Name)
		}
	}
	if !bytes.Equal(perNode[0][0].PrevHash, make([]byte, 48)) {
		t.Fatalf("first file starts from %x, want 48 zero bytes", perNode[0][0].PrevHash)
	}

	// The same seed writes the same stream; another seed another one.
	again := generate(t, net.Stream(Options{Start: start, Items: 5, TxBytes: 100, SidecarEvery: 2, FirstBlock: 40}), 2)
	other := generate(t, net.Stream(Options{Start: start, Items: 5, TxBytes: 100, SidecarEvery: 2, FirstBlock: 40, Seed: 7}), 1)
	if !bytes.Equal(again[1].Plain, files[1].Plain) || bytes.Equal(other[0].Plain, files[0].Plain) {
		t.Fatal("Seed does not decide the contents")
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Each fault breaks exactly the check it should, on the node it is set
// for, and nothing for the other nodes.
func TestFaultsFailTheirCheck(t *testing.T) {
	net := network(t, 4)
	bookBytes, err := net.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	book := readBook(t, "generated-book", bookBytes)
	const bad = "0.0.4"
	for _, c := range []struct {
		fault Fault
		want  error // what checking the broken copy fails with
	}{
		{Tampered, recordstream.ErrHashMismatch},
		{BadSignature, recordstream.ErrBadSignature},
		{Absent, errMissing},
		{NoRecord, errMissing},
		{NoSignature, errMissing},
		{Truncated, recordstream.ErrTruncated},
		{NotGzip, recordstream.ErrMalformed},
		{BadSidecar, recordstream.ErrHashMismatch},
		{Forked, nil}, // verifies alone; only its hash tells
	} {
		t.Run(c.fault.String(), func(t *testing.T) {
			files := generate(t, net.Stream(Options{Items: 3, SidecarEvery: 1}), 3)
			if err := files[1].SetFault(bad, c.fault); err != nil {
				t.Fatal(err)
			}
			if got := files[1].Fault(bad); got != c.fault {
				t.Fatalf("Fault(%s) = %v, want %v", bad, got, c.fault)
			}
			b := toBucket(objects(t, files, "recordstreams/"))
			for _, a := range net.Accounts() {
				if a == bad {
					continue
				}
				checkNode(t, b, book, "recordstreams/", a)
			}
			dir := NodeDir("recordstreams/", bad)
			first, err := checkFile(b, book, dir, bad, files[0].Name, nil)
			if err != nil {
				t.Fatalf("the file before the broken one: %v", err)
			}
			rf, err := checkFile(b, book, dir, bad, files[1].Name, first)
			switch {
			case c.fault == Absent:
				for k := range b {
					if strings.HasPrefix(k, dir) && strings.Contains(k, strings.TrimSuffix(files[1].Name, ".rcd.gz")) {
						t.Fatalf("absent node still has %s", k)
					}
				}
				fallthrough
			case c.want != nil:
				if !errors.Is(err, c.want) {
					t.Fatalf("check of %s's %v copy = %v, want %v", bad, c.fault, err, c.want)
				}
			default:
				if err != nil {
					t.Fatalf("a forked copy checks alone: %v", err)
				}
				if bytes.Equal(rf.FileHash, files[1].Record.FileHash) {
					t.Fatal("the forked copy has the honest file hash")
				}
			}
			// Mending the fault makes the copy whole again.
			if err := files[1].SetFault(bad, Honest); err != nil {
				t.Fatal(err)
			}
			checkNode(t, toBucket(objects(t, files, "recordstreams/")), book, "recordstreams/", bad)
		})
	}
}

func TestBreakChain(t *testing.T) {
	net := network(t, 2)
	bookBytes, err := net.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	book := readBook(t, "generated-book", bookBytes)
	g := net.Stream(Options{Items: 2})
	files := generate(t, g, 2)
	g.BreakChain()
	files = append(files, generate(t, g, 2)...)
	b := toBucket(objects(t, files, "recordstreams/"))
	for _, a := range net.Accounts() {
		dir := NodeDir("recordstreams/", a)
		var prev *recordstream.RecordFile
		for i, f := range files {
			rf, err := checkFile(b, book, dir, a, f.Name, prev)
			if i == 2 {
				if !errors.Is(err, recordstream.ErrChainBroken) {
					t.Fatalf("node %s: file after the break: %v, want %v", a, err, recordstream.ErrChainBroken)
				}
				// Signed all the same: only the chain is broken.
				if _, err := checkFile(b, book, dir, a, f.Name, nil); err != nil {
					t.Fatalf("node %s: the file after the break does not verify alone: %v", a, err)
				}
			} else if err != nil {
				t.Fatalf("node %s file %d: %v", a, i, err)
			}
			prev = rf
		}
	}
}

// After a key rotation the node's new files verify with the new book
// only, and the stream still chains across the rotation.
func TestRotateKey(t *testing.T) {
	net := network(t, 2)
	rotated, err := net.RotateKey("0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.RotateKey("0.0.9"); err == nil {
		t.Fatal("RotateKey of a node not in the network succeeded")
	}
	if rotated.Nodes[0].Key != net.Nodes[0].Key || rotated.Nodes[1].Key.Equal(net.Nodes[1].Key) {
		t.Fatal("RotateKey changed the wrong key")
	}
	g := net.Stream(Options{Items: 2})
	files := generate(t, g, 1)
	g.SetNetwork(rotated)
	files = append(files, generate(t, g, 1)...)
	b := toBucket(objects(t, files, "recordstreams/"))
	dir := NodeDir("recordstreams/", "0.0.4")
	oldBook, newBook := net.Book(), rotated.Book()
	first, err := checkFile(b, oldBook, dir, "0.0.4", files[0].Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkFile(b, oldBook, dir, "0.0.4", files[1].Name, first); !errors.Is(err, recordstream.ErrBadSignature) {
		t.Fatalf("a file signed after the rotation, checked with the old book: %v, want %v", err, recordstream.ErrBadSignature)
	}
	if _, err := checkFile(b, newBook, dir, "0.0.4", files[1].Name, first); err != nil {
		t.Fatalf("with the new book: %v", err)
	}
	// Node 0.0.3 kept its key: both books verify it.
	if _, err := checkFile(b, oldBook, NodeDir("recordstreams/", "0.0.3"), "0.0.3", files[1].Name, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSetFaultRefusesNonsense(t *testing.T) {
	net := network(t, 1)
	f := generate(t, net.Stream(Options{}), 1)[0]
	if err := f.SetFault("0.0.9", Tampered); err == nil {
		t.Fatal("SetFault for a node not in the network succeeded")
	}
	if err := f.SetFault("0.0.3", BadSidecar); err == nil {
		t.Fatal("BadSidecar on a file without sidecars succeeded")
	}
	if _, err := NewNetwork(0); err == nil {
		t.Fatal("NewNetwork(0) succeeded")
	}
}

// Upload puts generated files and fixtures into a real GCS server in the
// bucket layout, and a second upload of the same set changes nothing.
func TestUpload(t *testing.T) {
	ctx := context.Background()
	srv, name := testkit.GCS(t)
	store, err := blob.Open(ctx, testkit.GCSBucket(srv, name))
	if err != nil {
		t.Fatal(err)
	}
	net := network(t, 3)
	objs := objects(t, generate(t, net.Stream(Options{SidecarEvery: 3}), 5), "recordstreams/")
	v6 := filepath.Join(fixtures(t), "recordstreams", "v6")
	fx, err := DirObjects(v6, "fixtures/v6/")
	if err != nil {
		t.Fatal(err)
	}
	if len(fx) != 4*(2+2+1) {
		t.Fatalf("%d fixture objects under v6, want 20 (4 nodes × 2 records, 2 signatures, 1 sidecar)", len(fx))
	}
	all := append(objs, fx...)
	for range 2 {
		if err := Upload(ctx, store, objs); err != nil {
			t.Fatal(err)
		}
		if n, err := UploadDir(ctx, store, v6, "fixtures/v6/"); err != nil || n != len(fx) {
			t.Fatalf("UploadDir = %d, %v; want %d files", n, err, len(fx))
		}
	}
	want := toBucket(all)
	got := bucket{}
	err = store.List(ctx, "", "", func(o blob.Object) error {
		rc, err := store.Open(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		got[o.Key], err = io.ReadAll(rc)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("bucket holds %d objects, want %d", len(got), len(want))
	}
	for k, body := range want {
		if !bytes.Equal(got[k], body) {
			t.Fatalf("object %s: %d bytes in the bucket, want the %d uploaded", k, len(got[k]), len(body))
		}
	}
	if _, ok := got["fixtures/v6/record0.0.5/sidecar/2022-07-13T08_46_11.304284003Z_01.rcd.gz"]; !ok {
		t.Fatal("the fixture sidecar is not under record0.0.5/sidecar/")
	}

	// A failing store stops the upload with the key named.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Upload(cctx, store, []Object{{Key: "x/y", Body: []byte("z")}}); err == nil {
		t.Fatal("Upload with a cancelled context succeeded")
	}
}

// A mixed stream's items are txgen's transactions, chained and named like
// any other stream's, different in every file.
func TestMixedItems(t *testing.T) {
	net := network(t, 1)
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	files := generate(t, net.Stream(Options{Start: start, Items: 30, Mixed: true}), 3)
	var prev *recordstream.RecordFile
	for i, f := range files {
		rf := f.Record
		if len(rf.Items) != 30 || rf.ConsensusStart != start.Add(time.Duration(i)*2*time.Second).UnixNano() {
			t.Fatalf("file %d: %d items from %d", i, len(rf.Items), rf.ConsensusStart)
		}
		want := txgen.Items(30, 1+int64(i), f.Consensus)
		for j, it := range rf.Items {
			if !bytes.Equal(it.Transaction, want[j].Transaction) || !bytes.Equal(it.Record, want[j].Record) {
				t.Fatalf("file %d item %d is not txgen's", i, j)
			}
		}
		if prev != nil {
			if err := recordstream.Follows(prev, rf); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(prev.Items[0].Transaction, rf.Items[0].Transaction) {
				t.Fatalf("file %d repeats the previous file's transactions", i)
			}
		}
		prev = rf
	}
}

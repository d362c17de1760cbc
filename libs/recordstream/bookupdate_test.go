package recordstream_test

import (
	"bytes"
	"testing"
	"time"

	"tributary.dev/libs/hederapb"
	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
	"tributary.dev/libs/recordstream/txgen"
)

// A key rotation announced in the stream, as the network does it: the
// new NodeAddressBook written to 0.0.102 by a FileUpdate and FileAppends
// in one record file. Read as the mirror node does (AddressBookServiceImpl:
// each append completes the bytes since the update; the book is the
// parse of all of them), it is the new network's book, in force from the
// last append's consensus time + 1 ns.
func TestBookAnnouncedInTheStream(t *testing.T) {
	net, err := streamgen.NewNetwork(4)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := net.RotateKey("0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	want, err := rotated.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	g := net.Stream(streamgen.Options{Mixed: true, Items: 6})
	before, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 500
	if err := g.AnnounceBook(rotated, chunk); err != nil {
		t.Fatal(err)
	}
	announcing, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}
	after, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}

	if ops, err := recordstream.BookFileOps(before.Record, 0, 0); err != nil || len(ops) != 0 {
		t.Fatalf("file before: %v %v", ops, err)
	}
	ops, err := recordstream.BookFileOps(announcing.Record, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantOps := (len(want) + chunk - 1) / chunk
	if len(ops) != wantOps || wantOps < 2 {
		t.Fatalf("%d operations, want an update and appends: %d", len(ops), wantOps)
	}
	u := recordstream.NewBookUpdater(0, 0, nil)
	var got *recordstream.AddressBook
	var gotAt int64
	var joined []byte
	for i, op := range ops {
		if op.File != recordstream.BookFileNodeDetails || op.Append != (i > 0) {
			t.Errorf("operation %d: file %d append %v", i, op.File, op.Append)
		}
		joined = append(joined, op.Contents...)
		b, err := u.Apply(op)
		if err != nil {
			t.Fatal(err)
		}
		if b != nil {
			got, gotAt = b, op.ConsensusNs
		}
	}
	if !bytes.Equal(joined, want) {
		t.Fatalf("the operations carry %d bytes, the book is %d", len(joined), len(want))
	}
	if got == nil || gotAt != ops[len(ops)-1].ConsensusNs {
		t.Fatalf("book completed at %d, want at the last append %d", gotAt, ops[len(ops)-1].ConsensusNs)
	}
	for _, n := range rotated.Book().Nodes() {
		g, ok := got.NodeByID(n.NodeID)
		if !ok || g.Account != n.Account || !g.Key.Equal(n.Key) {
			t.Errorf("node %s: %+v", n.Account, g)
		}
	}
	// The announcing file is signed with the old keys, the one after
	// with the new: each verifies with the book in force at its start.
	h := recordstream.NewBookHistory(net.Book(), "start")
	if err := h.Add(time.Unix(0, gotAt+1), got, "stream"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*streamgen.File{before, announcing, after} {
		sig, err := f.SignatureBytes("0.0.4")
		if err != nil {
			t.Fatal(err)
		}
		s, err := recordstream.ParseSignature("x.rcd_sig", sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.At(f.Consensus).Verify("0.0.4", s); err != nil {
			t.Errorf("%s: node 0.0.4 with the book in force: %v", f.Name, err)
		}
	}
	// The updater's state survives a restart: the bytes gathered so far.
	u2 := recordstream.NewBookUpdater(0, 0, nil)
	if _, err := u2.Apply(ops[0]); err != nil {
		t.Fatal(err)
	}
	u3 := recordstream.NewBookUpdater(0, 0, u2.Parts())
	var b *recordstream.AddressBook
	for _, op := range ops[1:] {
		if b, err = u3.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	if b == nil || b.Len() != 4 {
		t.Errorf("book after a restart mid-update: %v", b)
	}
}

// What is not an address-book update is passed over: a failed update, an
// update of another file or another shard's 0.0.102, and 0.0.101 is told
// apart from 0.0.102. An update with empty contents starts the file over
// (the mirror node stores it and concatenates appends after the latest
// update).
func TestBookFileOpsFilters(t *testing.T) {
	net, err := streamgen.NewNetwork(2)
	if err != nil {
		t.Fatal(err)
	}
	book, err := net.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var items []recordstream.Item
	add := func(w txgen.FileWrite) {
		w.Start = start.Add(time.Duration(len(items)) * time.Millisecond)
		items = append(items, txgen.FileWriteItems(w)...)
	}
	add(txgen.FileWrite{File: 102, Contents: book, Status: hederapb.ResponseCodeEnum_INVALID_SIGNATURE})
	add(txgen.FileWrite{File: 150, Contents: book})
	add(txgen.FileWrite{Shard: 1, File: 102, Contents: book})
	add(txgen.FileWrite{File: 101, Contents: book, Chunk: 100})
	add(txgen.FileWrite{File: 102, Contents: nil})
	add(txgen.FileWrite{File: 102, Contents: book})
	plain, err := recordstream.EncodeV6(recordstream.HAPIVersion{Minor: 47}, make([]byte, 48), 1, items, nil)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := recordstream.Parse("2024-01-01T00_00_00.000000000Z.rcd", plain)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := recordstream.BookFileOps(rf, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	appends101 := (len(book)+99)/100 - 1
	if len(ops) != 1+appends101+2 {
		t.Fatalf("%d operations, want 0.0.101's update and %d appends and two updates of 0.0.102", len(ops), appends101)
	}
	u := recordstream.NewBookUpdater(0, 0, nil)
	var books []int64
	for _, op := range ops {
		b, err := u.Apply(op)
		if err != nil {
			t.Fatal(err)
		}
		if b != nil {
			books = append(books, op.File)
		}
	}
	// 0.0.101 completes once (perhaps earlier too, where a chunk ends on
	// a node boundary), then the empty update of 0.0.102 completes
	// nothing and the whole one does.
	if len(books) < 2 || books[len(books)-1] != 102 || books[len(books)-2] != 101 {
		t.Errorf("books completed for files %v", books)
	}
	if parts := u.Parts(); !bytes.Equal(parts[102], book) {
		t.Errorf("0.0.102 holds %d bytes after the last update, want %d", len(parts[102]), len(book))
	}
}

package archive

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// The segment body is read straight from the documents; it must give the
// same bytes as laying them end to end, whatever the read sizes, and
// again after a rewind (a signed or retried put reads it twice).
func TestDocsReader(t *testing.T) {
	var items []*item
	var want []byte
	for i, n := range []int{5, 0, 1, 300, 17, 4096, 2} {
		doc := bytes.Repeat([]byte{byte(i + 1)}, n)
		items = append(items, &item{doc: doc})
		want = append(want, doc...)
	}
	d := newDocsReader(items)
	if d.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", d.Size(), len(want))
	}
	if err := iotest.TestReader(d, want); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 3, 64, 10000} {
		if _, err := d.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, chunk)
		for {
			n, err := d.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: bytes differ", chunk)
		}
	}
	if _, err := d.Seek(310, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(d)
	if !bytes.Equal(rest, want[310:]) {
		t.Fatal("read after a seek into the middle differs")
	}
}

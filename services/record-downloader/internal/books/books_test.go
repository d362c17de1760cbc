package books

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/recordstream"
	"tributary.dev/libs/recordstream/streamgen"
)

// A learned book is kept once, under the time it is in force from, read
// back into a history, and a different book at the same time is refused.
func TestStore(t *testing.T) {
	net, err := streamgen.NewNetwork(2)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.AddressBook()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(t.TempDir(), "books"))
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 1, 1, 0, 0, 1, 5, time.UTC)
	for range 2 {
		if err := s.Save(from, raw, "0.0.102 update in x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Save(from, raw[:len(raw)-1], "other"); err == nil || !strings.Contains(err.Error(), "different book") {
		t.Errorf("a different book at the same time: %v", err)
	}
	other, err := streamgen.NewNetwork(1)
	if err != nil {
		t.Fatal(err)
	}
	h := recordstream.NewBookHistory(other.Book(), "start")
	n, err := s.Load(h, 0, 0)
	if err != nil || n != 1 {
		t.Fatalf("loaded %d: %v", n, err)
	}
	if got := h.DatedAt(from); !got.From.Equal(from) || got.Source != "0.0.102 update in x" || got.Book.Len() != 2 {
		t.Errorf("book in force at %v: %+v", from, got)
	}
	if got := h.DatedAt(from.Add(-1)); got.Source != "start" {
		t.Errorf("1 ns before: %q", got.Source)
	}
	// A broken file is an error that says what to do.
	os.WriteFile(filepath.Join(s.Dir(), "00000000000000000009-0.0.102.pb"), []byte("\xff"), 0o644)
	if _, err := s.Load(recordstream.NewBookHistory(other.Book(), "start"), 0, 0); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("broken book: %v", err)
	}
}

package recordstream

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// DatedBook is an address book with the consensus time it is in force
// from: the book a record file's signatures are checked with is the one
// in force at the file's consensus start.
type DatedBook struct {
	// From is the first consensus time the book is in force at; zero for
	// the starting book (in force before any update the stream carries).
	From time.Time
	Book *AddressBook
	// Source says where the book came from ("ADDRESS_BOOK", or the record
	// file and consensus time of the update that completed it).
	Source string
}

// BookHistory is the network's address books by validity range: each in
// force from its From until the next one's. A backfill across a key
// rotation checks each file with the keys of its time. Safe for
// concurrent use.
type BookHistory struct {
	mu    sync.RWMutex
	books []DatedBook // by From, the starting book first
}

// NewBookHistory starts a history with the book in force from the
// beginning.
func NewBookHistory(start *AddressBook, source string) *BookHistory {
	return &BookHistory{books: []DatedBook{{Book: start, Source: source}}}
}

// Add records a book in force from from on. A book already recorded
// from the same time is kept (an update seen again, after a restart or by
// a backfill, is the same update).
func (h *BookHistory) Add(from time.Time, b *AddressBook, source string) error {
	if from.IsZero() {
		return fmt.Errorf("address book from %s: a book learned from the stream needs the consensus time it is in force from", source)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.books), func(i int) bool { return !h.books[i].From.Before(from) })
	if i < len(h.books) && h.books[i].From.Equal(from) {
		return nil
	}
	h.books = append(h.books, DatedBook{})
	copy(h.books[i+1:], h.books[i:])
	h.books[i] = DatedBook{From: from, Book: b, Source: source}
	return nil
}

// At is the book in force at consensus time t: the last one whose From is
// not after t.
func (h *BookHistory) At(t time.Time) *AddressBook { return h.DatedAt(t).Book }

// DatedAt is At with the book's validity start and source.
func (h *BookHistory) DatedAt(t time.Time) DatedBook {
	h.mu.RLock()
	defer h.mu.RUnlock()
	i := sort.Search(len(h.books), func(i int) bool { return h.books[i].From.After(t) })
	if i == 0 {
		return h.books[0]
	}
	return h.books[i-1]
}

// Books lists the history, the starting book first.
func (h *BookHistory) Books() []DatedBook {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]DatedBook(nil), h.books...)
}

// Since lists the books in force at some time from t on: the one in
// force at t and every later one.
func (h *BookHistory) Since(t time.Time) []DatedBook {
	h.mu.RLock()
	defer h.mu.RUnlock()
	i := sort.Search(len(h.books), func(i int) bool { return h.books[i].From.After(t) })
	if i > 0 {
		i--
	}
	return append([]DatedBook(nil), h.books[i:]...)
}

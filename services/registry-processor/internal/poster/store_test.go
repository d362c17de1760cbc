package poster

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// memStore is the queue in memory, with the checks the real one's
// constraints give: a row is written back once, and only after it was
// marked sent.
type memStore struct {
	mu      sync.Mutex
	rows    []Row // ascending record id
	sent    map[int64][]string
	posted  map[int64]Result
	writes  map[int64]int
	errs    []string
	queries int
}

func newMemStore(rows []Row) *memStore {
	sort.Slice(rows, func(i, j int) bool { return rows[i].RecordID < rows[j].RecordID })
	return &memStore{rows: rows, sent: map[int64][]string{}, posted: map[int64]Result{}, writes: map[int64]int{}}
}

func (s *memStore) Postable(ctx context.Context, after int64, limit int, now time.Time) ([]Row, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, fmt.Errorf("Postable without a deadline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	var out []Row
	for _, r := range s.rows {
		if r.RecordID <= after {
			continue
		}
		if _, done := s.posted[r.RecordID]; done {
			continue
		}
		out = append(out, r)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (s *memStore) MarkSent(ctx context.Context, ids []int64, batch string) error {
	if _, ok := ctx.Deadline(); !ok {
		return fmt.Errorf("MarkSent without a deadline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.sent[id] = append(s.sent[id], batch)
	}
	return nil
}

func (s *memStore) MarkPosted(ctx context.Context, results []Result) error {
	if _, ok := ctx.Deadline(); !ok {
		return fmt.Errorf("MarkPosted without a deadline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range results {
		if len(s.sent[r.RecordID]) == 0 && r.Success {
			s.errs = append(s.errs, fmt.Sprintf("record %d posted before it was marked sent", r.RecordID))
		}
		s.writes[r.RecordID]++
		s.posted[r.RecordID] = r
	}
	return nil
}

func (s *memStore) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Error(e)
	}
	for id, n := range s.writes {
		if n != 1 {
			t.Errorf("record %d written back %d times", id, n)
		}
	}
}

// queue makes rows for corps with the given numbers of credentials, in
// generation order: each corp's rows one after another. Each credential
// carries its record id as an attribute so the stub's log can be matched
// to rows.
func queue(sizes []int) []Row {
	var rows []Row
	id := int64(100)
	for c, n := range sizes {
		corp := fmt.Sprintf("%07d", c+1)
		for i := range n {
			id++
			rows = append(rows, Row{
				RecordID: id, Corp: corp, Schema: "registration.registries.ca", Version: "1.0.42",
				JSON:   fmt.Sprintf(`{"effective_date": "2019-%02d-01T08:00:00+00:00", "record_id": "%d", "registration_id": "BC%s"}`, i%12+1, id, corp),
				Reason: "Filing: Annual Report",
			})
		}
	}
	return rows
}

package poster

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// memStore is the queue in memory with the rules of credential_log's
// claims: a row is taken by one claim at a time, written back once and
// only under its claim, held when unconfirmed, given back when unsent.
type memStore struct {
	mu          sync.Mutex
	rows        []Row // ascending record id
	claim       map[int64]string
	sent        map[int64]bool // claimed once (a row of rp_claims)
	unconfirmed map[int64]bool
	claims      map[int64][]string // every claim a row was taken under
	posted      map[int64]Result
	writes      map[int64]int
	errs        []string
	queries     int
}

func newMemStore(rows []Row) *memStore {
	sort.Slice(rows, func(i, j int) bool { return rows[i].RecordID < rows[j].RecordID })
	return &memStore{rows: rows, claim: map[int64]string{}, sent: map[int64]bool{}, unconfirmed: map[int64]bool{},
		claims: map[int64][]string{}, posted: map[int64]Result{}, writes: map[int64]int{}}
}

func deadline(ctx context.Context, what string) error {
	if _, ok := ctx.Deadline(); !ok {
		return fmt.Errorf("%s without a deadline", what)
	}
	return nil
}

func (s *memStore) Claim(ctx context.Context, claim string, after int64, limit int, now, resendBefore time.Time) ([]Row, error) {
	if err := deadline(ctx, "Claim"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	var out []Row
	for _, r := range s.rows {
		if r.RecordID <= after || (s.claim[r.RecordID] != "" && !s.unconfirmed[r.RecordID]) {
			continue
		}
		if _, done := s.posted[r.RecordID]; done {
			continue
		}
		if s.sent[r.RecordID] && (!s.unconfirmed[r.RecordID] || resendBefore.IsZero()) {
			continue
		}
		r.Resend = s.unconfirmed[r.RecordID]
		s.unconfirmed[r.RecordID] = false
		r.Claim = claim
		s.claim[r.RecordID], s.sent[r.RecordID] = claim, true
		s.claims[r.RecordID] = append(s.claims[r.RecordID], claim)
		out = append(out, r)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (s *memStore) HoldOrphans(ctx context.Context) (int, error) {
	if err := deadline(ctx, "HoldOrphans"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, c := range s.claim {
		if c != "" && !s.unconfirmed[id] {
			s.unconfirmed[id] = true
			n++
		}
	}
	return n, nil
}

func (s *memStore) MarkPosted(ctx context.Context, results []Result) (int, error) {
	if err := deadline(ctx, "MarkPosted"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range results {
		if _, done := s.posted[r.RecordID]; done {
			s.errs = append(s.errs, fmt.Sprintf("record %d answered twice", r.RecordID))
			continue
		}
		if s.claim[r.RecordID] != r.Claim {
			s.errs = append(s.errs, fmt.Sprintf("record %d written back under claim %q, held by %q", r.RecordID, r.Claim, s.claim[r.RecordID]))
			continue
		}
		s.writes[r.RecordID]++
		s.posted[r.RecordID] = r
		n++
	}
	return n, nil
}

func (s *memStore) MarkUnconfirmed(ctx context.Context, claim string, ids []int64) (int, error) {
	if err := deadline(ctx, "MarkUnconfirmed"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if s.claim[id] == claim {
			s.unconfirmed[id] = true
			n++
		}
	}
	return n, nil
}

func (s *memStore) Release(ctx context.Context, claim string, ids []int64, resend []bool) (int, error) {
	if err := deadline(ctx, "Release"); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i, id := range ids {
		if s.claim[id] == claim {
			s.claim[id] = ""
			s.unconfirmed[id] = resend[i]
			s.sent[id] = resend[i]
			n++
		}
	}
	return n, nil
}

// held is the records held as unconfirmed and not answered.
func (s *memStore) held() map[int64]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int64]bool{}
	for id, u := range s.unconfirmed {
		if _, done := s.posted[id]; u && !done {
			out[id] = true
		}
	}
	return out
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
	for id, c := range s.claim {
		if _, done := s.posted[id]; c != "" && !done && !s.unconfirmed[id] {
			t.Errorf("record %d still claimed by %s after the run, neither answered nor held", id, c)
		}
	}
}

var annualReport = "Filing: Annual Report"

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
				Reason: &annualReport,
			})
		}
	}
	return rows
}

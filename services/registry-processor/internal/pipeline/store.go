package pipeline

import (
	"context"
	"time"

	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/poster"
)

// PostStore is the poster's view of credential_log.
type PostStore struct{ DB *epdb.DB }

// Claim implements poster.Store.
func (s PostStore) Claim(ctx context.Context, claim string, after int64, limit int, now, resendBefore time.Time) ([]poster.Row, error) {
	rows, err := s.DB.Claim(ctx, claim, after, limit, now, resendBefore)
	if err != nil {
		return nil, err
	}
	out := make([]poster.Row, len(rows))
	for i, r := range rows {
		out[i] = poster.Row{RecordID: r.RecordID, Corp: r.Corp, Schema: r.Schema, Version: r.Version, JSON: r.JSON,
			Reason: r.Reason, Resend: r.Resend, Claim: claim}
	}
	return out, nil
}

// HoldOrphans implements poster.Store.
func (s PostStore) HoldOrphans(ctx context.Context) (int, error) { return s.DB.HoldOrphans(ctx) }

// MarkPosted implements poster.Store.
func (s PostStore) MarkPosted(ctx context.Context, results []poster.Result) (int, error) {
	out := make([]epdb.Posted, len(results))
	for i, r := range results {
		out[i] = epdb.Posted{RecordID: r.RecordID, Claim: r.Claim, Success: r.Success, Result: r.Result}
	}
	return s.DB.MarkPosted(ctx, out)
}

// MarkUnconfirmed implements poster.Store.
func (s PostStore) MarkUnconfirmed(ctx context.Context, claim string, ids []int64) (int, error) {
	return s.DB.MarkUnconfirmed(ctx, claim, ids)
}

// Release implements poster.Store.
func (s PostStore) Release(ctx context.Context, claim string, ids []int64, resend []bool) (int, error) {
	return s.DB.Release(ctx, claim, ids, resend)
}

package pipeline

import (
	"context"
	"time"

	"tributary.dev/services/registry-processor/internal/epdb"
	"tributary.dev/services/registry-processor/internal/poster"
)

// PostStore is the poster's view of credential_log.
type PostStore struct{ DB *epdb.DB }

// Postable implements poster.Store.
func (s PostStore) Postable(ctx context.Context, after int64, limit int, now time.Time) ([]poster.Row, error) {
	rows, err := s.DB.Postable(ctx, after, limit, now)
	if err != nil {
		return nil, err
	}
	out := make([]poster.Row, len(rows))
	for i, r := range rows {
		out[i] = poster.Row{RecordID: r.RecordID, Corp: r.Corp, Schema: r.Schema, Version: r.Version, JSON: r.JSON, Reason: r.Reason}
	}
	return out, nil
}

// MarkSent implements poster.Store.
func (s PostStore) MarkSent(ctx context.Context, ids []int64, batch string) error {
	return s.DB.MarkSent(ctx, ids, batch)
}

// MarkPosted implements poster.Store.
func (s PostStore) MarkPosted(ctx context.Context, results []poster.Result) error {
	out := make([]epdb.Posted, len(results))
	for i, r := range results {
		out[i] = epdb.Posted{RecordID: r.RecordID, Success: r.Success, Result: r.Result}
	}
	return s.DB.MarkPosted(ctx, out)
}

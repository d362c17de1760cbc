package index

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ClaimKey claims key for clean-duplicates to delete, unless an index row
// points at it: claimed is false when one does (the object is kept). It
// holds claimLock exclusively while it looks, so no insert pointing at the
// key is half-way through; inserts after it see the claim and refuse (see
// Insert). The caller deletes the object, then calls ReleaseKey.
func (ix *Index) ClaimKey(ctx context.Context, key string) (claimed bool, err error) {
	err = pgx.BeginFunc(ctx, ix.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, claimLock); err != nil {
			return err
		}
		var indexed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM archive_messages WHERE key = $1)`, key).Scan(&indexed); err != nil {
			return err
		}
		if indexed {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO archive_key_claims (key) VALUES ($1)
			ON CONFLICT (key) DO UPDATE SET claimed_at = now()`, key)
		claimed = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	return claimed, nil
}

// ReleaseKey ends a claim.
func (ix *Index) ReleaseKey(ctx context.Context, key string) error {
	if _, err := ix.pool.Exec(ctx, `DELETE FROM archive_key_claims WHERE key = $1`, key); err != nil {
		return fmt.Errorf("release claim on %s: %w", key, err)
	}
	return nil
}

// DropStaleClaims deletes claims older than a claim holds (left by a
// clean-duplicates that died) and returns how many.
func (ix *Index) DropStaleClaims(ctx context.Context) (int64, error) {
	tag, err := ix.pool.Exec(ctx, `DELETE FROM archive_key_claims WHERE claimed_at <= now() - $1::interval`, claimTTL.String())
	if err != nil {
		return 0, fmt.Errorf("drop stale key claims: %w", err)
	}
	return tag.RowsAffected(), nil
}

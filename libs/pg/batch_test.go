package pg

import (
	"context"
	"testing"

	"tributary.dev/libs/testkit"
)

// DeleteInBatches goes on until a statement removes fewer rows than the
// batch, deletes only what the statement selects, and counts every row.
func TestDeleteInBatches(t *testing.T) {
	ctx := context.Background()
	pool, err := Connect(ctx, testkit.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE r AS SELECT g AS id FROM generate_series(1, 95) g`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		below      int
		want, left int64
	}{
		{below: 41, want: 40, left: 55}, // four full batches of 10, then an empty one
		{below: 68, want: 27, left: 28}, // two full, one short
		{below: 1000, want: 28, left: 0},
	} {
		n, err := DeleteInBatches(ctx, pool, 10, `DELETE FROM r WHERE id IN (SELECT id FROM r WHERE id < $1 ORDER BY id LIMIT $2)`, tc.below)
		if err != nil {
			t.Fatal(err)
		}
		var left int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM r`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if n != tc.want || left != tc.left {
			t.Errorf("below %d: deleted %d, %d left; want %d deleted, %d left", tc.below, n, left, tc.want, tc.left)
		}
	}
}

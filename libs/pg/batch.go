package pg

import (
	"context"

	"github.com/jackc/pgx/v5/pgconn"
)

// Execer is what DeleteInBatches needs of a pool or a connection.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DeleteInBatches runs a DELETE of at most batch rows again and again
// until one removes fewer than batch, and returns how many rows went in
// all. The statement's last parameter is the batch size (its LIMIT):
// args are the ones before it. Each statement commits on its own, so a
// prune of a large backlog holds no long transaction, stays under the
// statement timeout, and loses nothing it had done when it fails half way.
func DeleteInBatches(ctx context.Context, db Execer, batch int, sql string, args ...any) (int64, error) {
	var total int64
	for {
		tag, err := db.Exec(ctx, sql, append(args, batch)...)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

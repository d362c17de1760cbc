package pg

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgconn"
)

// CopyFrom streams r into table with COPY … FROM STDIN. table must already
// be quoted (QualifiedName); columns are quoted here; options is the
// WITH list without parentheses, e.g. "FORMAT csv, NULL ”". Nothing is
// buffered: rows go to the server as r yields them.
func CopyFrom(ctx context.Context, conn *pgconn.PgConn, table string, columns []string, options string, r io.Reader) (int64, error) {
	sql := "COPY " + table
	if len(columns) > 0 {
		sql += " (" + QuoteIdents(columns) + ")"
	}
	sql += " FROM STDIN"
	if options != "" {
		sql += " WITH (" + options + ")"
	}
	tag, err := conn.CopyFrom(ctx, r, sql)
	if err != nil {
		return 0, fmt.Errorf("copy into %s: %w", table, err)
	}
	return tag.RowsAffected(), nil
}

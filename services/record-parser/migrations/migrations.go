// Package migrations holds the parser's own tables, applied at start
// under an advisory lock (libs/pg.Migrate).
package migrations

import "embed"

// FS is every *.sql file here, applied in name order.
//
//go:embed *.sql
var FS embed.FS

// Package migrations holds the event-processor database: the original
// pipeline's tables, created only when absent so that a database the
// original ran on is taken over as it is, and the few tables and nullable
// columns of our own. Applied at start under an advisory lock
// (libs/pg.Migrate, service "registry-processor").
package migrations

import "embed"

// FS is every *.sql file here, applied in name order.
//
//go:embed *.sql
var FS embed.FS

// Package colin holds the DDL of the COLIN source schema subset the
// registry-processor reads, for tests, the devstack and
// `registry-processor testdata generate`.
package colin

import _ "embed"

// Schema creates the bc_registries schema and its tables (IF NOT EXISTS).
//
//go:embed schema.sql
var Schema string

package loader

import (
	"context"
	"errors"

	"tributary.dev/libs/blob"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrTimeout marks a delivery or a step of a pass that ran out of time:
// a PostgreSQL statement past its statement (or lock) timeout, an
// object-store call past its deadline. Its transaction rolled back, so
// nothing of it is committed, and the next pass retries it; unlike bad
// input, waiting is the cure.
var ErrTimeout = errors.New("timeout")

// IsTimeout reports whether err is a deadline running out rather than a
// failure retrying cannot fix. A cancellation (shutdown) is not one.
func IsTimeout(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrTimeout) || blob.IsTimeout(err) || pgconn.Timeout(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 57014 query_canceled: statement_timeout (the pool's options);
		// 55P03 lock_not_available: lock_timeout.
		return pe.Code == "57014" || pe.Code == "55P03"
	}
	return false
}

// countError counts err under kind, or under "timeout" when a deadline
// ended it, so a slow or hung dependency shows apart from a broken one.
func (l *Loader) countError(err error, kind string) {
	if IsTimeout(err) {
		kind = "timeout"
	}
	l.m.Errors.WithLabelValues(kind).Inc()
}

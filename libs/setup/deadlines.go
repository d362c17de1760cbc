package setup

import (
	"errors"
	"fmt"
	"time"
)

// SQL is embedded in the config of a service with PostgreSQL: the
// deadline of every statement, so a hung server or a lock held by someone
// else becomes an error and a retry, never a stuck pass. Only services
// that embed it list SQL_TIMEOUT in --help.
type SQL struct {
	SQLTimeout int `envconfig:"SQL_TIMEOUT" default:"300" desc:"seconds any one PostgreSQL statement may run before it is cancelled (a COPY of a whole file is one statement)"`
}

func (s *SQL) sqlTimeout() time.Duration { return time.Duration(s.SQLTimeout) * time.Second }

func (s *SQL) checkSQL() error {
	if s.SQLTimeout < 1 {
		return fmt.Errorf("SQL_TIMEOUT: at least 1 second, got %d", s.SQLTimeout)
	}
	return nil
}

// Store is embedded in the config of a service with a bucket: the
// deadline of every object-store request.
type Store struct {
	StoreTimeout int `envconfig:"STORE_TIMEOUT" default:"60" desc:"seconds any one object-store request (list page, read, write, delete) may take before it fails and is retried"`
}

func (s *Store) storeTimeout() time.Duration { return time.Duration(s.StoreTimeout) * time.Second }

func (s *Store) checkStore() error {
	if s.StoreTimeout < 1 {
		return fmt.Errorf("STORE_TIMEOUT: at least 1 second, got %d", s.StoreTimeout)
	}
	return nil
}

// The promoted methods of an embedded SQL or Store let setup find them
// without knowing the service's struct.
type (
	hasSQL interface {
		sqlTimeout() time.Duration
		checkSQL() error
	}
	hasStore interface {
		storeTimeout() time.Duration
		checkStore() error
	}
)

// checkDeadlines validates both structs where embedded. A service's own
// Validate hides theirs (Go's promotion rules), so setup calls them.
func checkDeadlines(cfg any) error {
	var errs []error
	if s, ok := cfg.(hasSQL); ok {
		errs = append(errs, s.checkSQL())
	}
	if s, ok := cfg.(hasStore); ok {
		errs = append(errs, s.checkStore())
	}
	return errors.Join(errs...)
}

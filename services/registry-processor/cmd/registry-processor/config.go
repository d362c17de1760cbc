package main

import (
	"errors"
	"fmt"
	"net/url"

	"tributary.dev/libs/config"
	"tributary.dev/libs/setup"
)

// Config is every variable the processor reads; `registry-processor
// --help` prints it.
type Config struct {
	config.Common
	setup.SQL
	Source        config.DSN       `envconfig:"SOURCE_DB" desc:"the registry's COLIN database (read only), libpq form: user=… password=… host=… port=… dbname=…; required for run and initial-load"`
	Target        config.DSN       `envconfig:"TARGET" required:"true" desc:"the event-processor database (the original's tables), libpq form"`
	ControllerURL string           `envconfig:"CONTROLLER_URL" default:"http://localhost:5002" desc:"issuer controller: POST /issue-credential, GET /readiness"`
	PostBatch     int              `envconfig:"POST_BATCH" default:"10" desc:"credentials per request; a corp with no more than this many is never split"`
	PostParallel  int              `envconfig:"POST_CONCURRENCY" default:"32" desc:"requests in flight at most (lowered on errors, raised again as they stop, as the original does)"`
	PostTimeout   int              `envconfig:"POST_TIMEOUT" default:"120" desc:"seconds one request may take (the controller issues one credential at a time)"`
	PostRetries   int              `envconfig:"POST_RETRIES" default:"5" desc:"attempts per request on 5xx, timeouts and connection errors, with backoff"`
	MaxErrors     int              `envconfig:"CONTROLLER_MAX_ERRORS" default:"300" desc:"failed credentials after which a posting run stops"`
	CorpBatch     int              `envconfig:"CORP_BATCH_SIZE" default:"1000" desc:"queued corps loaded, generated and committed together"`
	NATS          config.SecretURL `envconfig:"NATS" desc:"NATS server for bcreg.events.processed and bcreg.credentials.posted; empty: none"`
	Notifications bool             `envconfig:"NOTIFICATIONS" default:"true" desc:"publish the announcements (needs NATS)"`
}

// Defaults: the original ran every 15 minutes.
func (*Config) Defaults() map[string]string {
	return map[string]string{"MIN_SLEEP": "900", "MAX_SLEEP": "960", "HEALTH_WINDOW": "3600"}
}

// Validate checks what types cannot.
func (c *Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.ControllerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("CONTROLLER_URL: %q is not an http(s) URL", c.ControllerURL))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"POST_BATCH", c.PostBatch}, {"POST_CONCURRENCY", c.PostParallel}, {"POST_TIMEOUT", c.PostTimeout}, {"POST_RETRIES", c.PostRetries}, {"CONTROLLER_MAX_ERRORS", c.MaxErrors}, {"CORP_BATCH_SIZE", c.CorpBatch}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s: at least 1, got %d", v.name, v.n))
		}
	}
	return errors.Join(errs...)
}

// needSource fails a verb that reads COLIN without SOURCE_DB.
func (c *Config) needSource(verb string) error {
	if c.Source.IsZero() {
		return fmt.Errorf("SOURCE_DB: required for %s (the registry's COLIN database)", verb)
	}
	return nil
}

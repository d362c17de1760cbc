package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"tributary.dev/libs/config"
	"tributary.dev/libs/setup"
	"tributary.dev/services/registry-processor/internal/pacific"
	"tributary.dev/services/registry-processor/internal/poster"
)

// Config is every variable the processor reads; `registry-processor
// --help` prints it.
type Config struct {
	config.Common
	setup.SQL
	Source        config.DSN       `envconfig:"SOURCE_DB" desc:"the registry's COLIN database (read only), libpq form: user=… password=… host=… port=… dbname=…; required for run, initial-load and verify"`
	Target        config.DSN       `envconfig:"TARGET" required:"true" desc:"the event-processor database (the original's tables), libpq form"`
	ControllerURL config.SecretURL `envconfig:"CONTROLLER_URL" default:"http://localhost:5002" desc:"issuer controller: POST /issue-credential, GET /readiness; a user, password or query in it is never printed"`
	PostBatch     int              `envconfig:"POST_BATCH" default:"10" desc:"credentials per request; a corp with no more than this many is never split"`
	PostParallel  int              `envconfig:"POST_CONCURRENCY" default:"32" desc:"requests in flight at most (lowered on errors, raised again as they stop, as the original does)"`
	CredWait      int              `envconfig:"CONTROLLER_CRED_WAIT" default:"120" desc:"seconds the controller may wait for each credential it issues (its MAX_CRED_RESPONSE_TIMEOUT); it issues a request's credentials one after another"`
	PostTimeout   int              `envconfig:"POST_TIMEOUT" default:"0" desc:"seconds one request may take; 0: POST_BATCH × CONTROLLER_CRED_WAIT + 60 (1260 with the defaults). A request that times out after it was sent is held as unconfirmed, never sent again by itself"`
	PostRetries   int              `envconfig:"POST_RETRIES" default:"5" desc:"retries of a request that never reached the controller (connection refused, 503 or 429 before it read it), with backoff"`
	PostRunLimit  int              `envconfig:"POST_RUN_LIMIT" default:"600" desc:"seconds one run may spend posting before it stops starting requests, so a backlog does not hold back new events (the original capped each stage at 10 minutes); 0: no limit"`
	ResendAfter   int              `envconfig:"UNCONFIRMED_RESEND_AFTER" default:"0" desc:"seconds after which credentials held as unconfirmed (sent, never answered) are sent again by themselves; 0: never, only post --unconfirmed does. Each one sent again may be issued twice"`
	MaxErrors     int              `envconfig:"CONTROLLER_MAX_ERRORS" default:"300" desc:"failed credentials after which a posting run stops"`
	CorpBatch     int              `envconfig:"CORP_BATCH_SIZE" default:"1000" desc:"queued corps loaded, generated and committed together"`
	TouchedWarn   int              `envconfig:"CORPS_TOUCHED_PAGE" default:"100000" desc:"corps touched by one run's events above which the run is flagged to page someone (the original's limit); the run still goes on"`
	Pytz          string           `envconfig:"PYTZ_TZDATA" default:"pre-2024b" desc:"which pytz the original ran, which decides how dates print and so every hash: pre-2024b (pytz before 2024.2: PST8PDT on US rules, -08:00 before 1918, minimum date 0002-01-01T08:00:00+00:00) or 2024b (pytz 2024.2 and later: America/Los_Angeles, local mean time -07:53 before 1901-12-13). Checked against credential_log before anything is posted"`
	NATS          config.SecretURL `envconfig:"NATS" desc:"NATS server for bcreg.events.processed and bcreg.credentials.posted; empty: none"`
	Notifications bool             `envconfig:"NOTIFICATIONS" default:"true" desc:"publish the announcements (needs NATS)"`
}

// Defaults: the original ran every 15 minutes.
func (*Config) Defaults() map[string]string {
	return map[string]string{"MIN_SLEEP": "900", "MAX_SLEEP": "960"}
}

// Validate checks what types cannot.
func (c *Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.ControllerURL.Value()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("CONTROLLER_URL: %s is not an http(s) URL", c.ControllerURL))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"POST_BATCH", c.PostBatch}, {"POST_CONCURRENCY", c.PostParallel}, {"CONTROLLER_CRED_WAIT", c.CredWait}, {"CONTROLLER_MAX_ERRORS", c.MaxErrors},
		{"CORP_BATCH_SIZE", c.CorpBatch}, {"CORPS_TOUCHED_PAGE", c.TouchedWarn}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s: at least 1, got %d", v.name, v.n))
		}
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"POST_TIMEOUT", c.PostTimeout}, {"POST_RETRIES", c.PostRetries}, {"POST_RUN_LIMIT", c.PostRunLimit}, {"UNCONFIRMED_RESEND_AFTER", c.ResendAfter}} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", v.name, v.n))
		}
	}
	if _, err := pacific.ParseRules(c.Pytz); err != nil {
		errs = append(errs, fmt.Errorf("PYTZ_TZDATA: %w", err))
	}
	if c.HealthWindow > 0 && c.HealthWindow <= c.SQLTimeout {
		errs = append(errs, fmt.Errorf("HEALTH_WINDOW: %d s must exceed SQL_TIMEOUT (%d s), the longest a run goes without a sign of progress", c.HealthWindow, c.SQLTimeout))
	}
	return errors.Join(errs...)
}

// postTimeout is POST_TIMEOUT, or what follows from the batch and the
// controller's wait per credential.
func (c *Config) postTimeout() time.Duration {
	if c.PostTimeout > 0 {
		return time.Duration(c.PostTimeout) * time.Second
	}
	return poster.DefaultTimeout(c.PostBatch, time.Duration(c.CredWait)*time.Second)
}

// rules is PYTZ_TZDATA, checked by Validate.
func (c *Config) rules() pacific.Rules {
	r, _ := pacific.ParseRules(c.Pytz)
	return r
}

// needSource fails a verb that reads COLIN without SOURCE_DB.
func (c *Config) needSource(verb string) error {
	if c.Source.IsZero() {
		return fmt.Errorf("SOURCE_DB: required for %s (the registry's COLIN database)", verb)
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"strings"

	"tributary.dev/libs/config"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/setup"
)

// Config is every variable the loader reads; `s3-loader --help` prints it.
type Config struct {
	config.Common
	setup.SQL
	setup.Store
	DryRun        bool             `envconfig:"DRY_RUN" default:"false" desc:"read, parse and count everything, then roll back: persist nothing, publish nothing"`
	Notifications bool             `envconfig:"NOTIFICATIONS" default:"true" desc:"publish a change notification per delivery"`
	NATS          config.SecretURL `envconfig:"NATS" desc:"NATS server, nats://user:pw@host:4222 (required when NOTIFICATIONS is true)"`
	Source        config.Bucket    `envconfig:"SOURCE" required:"true" desc:"S3 holding DMS output: bucket_endpoint=… bucket_id=… bucket_key=… bucket_name=… bucket_path=…"`
	Target        config.DSN       `envconfig:"TARGET" required:"true" desc:"PostgreSQL, libpq form: user=… password=… host=… port=… dbname=…"`
	SchemaMap     string           `envconfig:"SCHEMA_MAP" desc:"rename DMS schemas to PostgreSQL schemas, e.g. dbo=public,sales=crm"`
	CSVNullValue  string           `envconfig:"CSV_NULL_VALUE" desc:"text that means NULL; empty: an empty unquoted field (the DMS default)"`
	EventIDColumn string           `envconfig:"EVENT_ID_COLUMN" desc:"column whose largest value in a delivery is sent as max_event_id (null when unset)"`
	OnBadFile     string           `envconfig:"ON_BAD_FILE" default:"stop" desc:"stop: a bad file halts its table until fixed; skip: record it with its reason in loader_deliveries and go on"`
	NotifyDS      string           `envconfig:"NOTIFY_DS" default:"paper-engine" desc:"ds field of notifications"`
	NotifyID      string           `envconfig:"NOTIFY_ID" default:"orders" desc:"id field of notifications"`
	NotifySubject string           `envconfig:"NOTIFY_SUBJECT" default:"paper-engine.meta.orders.change" desc:"NATS subject of notifications"`
	LateWindow    int              `envconfig:"CDC_LATE_WINDOW" default:"3600" desc:"seconds before the last applied CDC file to look for files that arrived late (reported, not applied)"`
	ProgressRows  int64            `envconfig:"PROGRESS_ROWS" default:"100000" desc:"log progress every this many rows"`
	OutboxHours   int              `envconfig:"OUTBOX_RETENTION" default:"168" desc:"hours a sent notification stays in loader_outbox before it is pruned (checked hourly); unsent ones are never pruned; 0 keeps all"`
}

// Validate checks what types cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.OnBadFile != "stop" && c.OnBadFile != "skip" {
		errs = append(errs, fmt.Errorf("ON_BAD_FILE: want stop or skip, got %q", c.OnBadFile))
	}
	if _, err := c.schemaMap(); err != nil {
		errs = append(errs, err)
	}
	if c.Notifications && !c.DryRun && c.NATS.IsZero() {
		errs = append(errs, errors.New("NATS: required when NOTIFICATIONS is true (or set NOTIFICATIONS=false)"))
	}
	if c.OutboxHours < 0 {
		errs = append(errs, fmt.Errorf("OUTBOX_RETENTION: must not be negative, got %d", c.OutboxHours))
	}
	if c.LateWindow < 0 {
		errs = append(errs, fmt.Errorf("CDC_LATE_WINDOW: must not be negative, got %d", c.LateWindow))
	}
	if c.EventIDColumn != "" {
		if err := pg.CheckIdent(c.EventIDColumn); err != nil {
			errs = append(errs, fmt.Errorf("EVENT_ID_COLUMN: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) schemaMap() (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range strings.FieldsFunc(c.SchemaMap, func(r rune) bool { return r == ',' || r == ' ' }) {
		from, to, ok := strings.Cut(pair, "=")
		if !ok || pg.CheckIdent(from) != nil || pg.CheckIdent(to) != nil {
			return nil, fmt.Errorf("SCHEMA_MAP: %q is not dms_schema=pg_schema with plain identifiers", pair)
		}
		m[from] = to
	}
	return m, nil
}

package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // DMS_DATE_PARTITION_TIMEZONE works on images without a zone database

	"github.com/jackc/pgx/v5/pgconn"

	"tributary.dev/libs/config"
	"tributary.dev/libs/pg"
	"tributary.dev/libs/setup"
	"tributary.dev/services/s3-loader/internal/dms"
)

// Config is every variable the loader reads; `s3-loader --help` prints it.
type Config struct {
	config.Common
	setup.SQL
	setup.Store
	DryRun        bool             `envconfig:"DRY_RUN" default:"false" desc:"read, parse and count everything, then roll back: persist nothing, publish nothing"`
	Notifications bool             `envconfig:"NOTIFICATIONS" default:"true" desc:"publish a change notification per delivery"`
	NATS          config.SecretURL `envconfig:"NATS" desc:"NATS server, nats://user:pw@host:4222 (required when NOTIFICATIONS is true)"`
	Stream        string           `envconfig:"NATS_STREAM" default:"PAPER_ENGINE_ORDERS" desc:"JetStream stream that stores notifications: the stream already capturing NOTIFY_SUBJECT, else this one, created at start"`
	DedupWindow   int              `envconfig:"DEDUP_WINDOW" default:"3600" desc:"seconds a stream the loader creates remembers a Nats-Msg-Id, so a notification sent again after a crash is dropped"`
	Source        config.Bucket    `envconfig:"SOURCE" required:"true" desc:"S3 holding DMS output: bucket_endpoint=… bucket_id=… bucket_key=… bucket_name=… bucket_path=…"`
	Target        config.DSN       `envconfig:"TARGET" required:"true" desc:"PostgreSQL, libpq form: user=… password=… host=… port=… dbname=…"`
	SchemaMap     string           `envconfig:"SCHEMA_MAP" desc:"rename DMS schemas to PostgreSQL schemas, e.g. dbo=public,sales=crm"`
	EventIDColumn string           `envconfig:"EVENT_ID_COLUMN" desc:"column whose largest value in a delivery is sent as max_event_id (null when unset)"`
	OnBadFile     string           `envconfig:"ON_BAD_FILE" default:"stop" desc:"stop: a file with bad contents halts its table until fixed; skip: record it with its reason in loader_deliveries and go on (never for keys the loader cannot place, gaps, reloads or foreign-key waits)"`
	NotifyDS      string           `envconfig:"NOTIFY_DS" default:"paper-engine" desc:"ds field of notifications"`
	NotifyID      string           `envconfig:"NOTIFY_ID" default:"orders" desc:"id field of notifications"`
	NotifySubject string           `envconfig:"NOTIFY_SUBJECT" default:"paper-engine.meta.orders.change" desc:"NATS subject of notifications"`
	LateWindow    int              `envconfig:"CDC_LATE_WINDOW" default:"3600" desc:"seconds before the last applied CDC file in which each pass looks for files that arrived late (reported, not applied)"`
	AuditEvery    int              `envconfig:"AUDIT_INTERVAL" default:"3600" desc:"seconds between whole listings of every table folder, which find late files older than CDC_LATE_WINDOW and keys the loader cannot place anywhere in a folder (0: every pass)"`
	ProgressRows  int64            `envconfig:"PROGRESS_ROWS" default:"100000" desc:"log progress every this many rows"`
	OutboxHours   int              `envconfig:"OUTBOX_RETENTION" default:"168" desc:"hours a sent notification stays in loader_outbox before it is pruned (checked hourly); unsent ones are never pruned; 0 keeps all"`

	// The DMS S3 target endpoint's settings that change the files
	// ("Endpoint settings when using Amazon S3 as a target for AWS DMS").
	// Declare them as the endpoint has them: files are checked against
	// them, and one written otherwise stops its table.
	CSVNullValue           string `envconfig:"CSV_NULL_VALUE" desc:"the endpoint's CsvNullValue: text that means NULL; empty: an empty unquoted field"`
	IncludeOpForFullLoad   bool   `envconfig:"DMS_INCLUDE_OP_FOR_FULL_LOAD" default:"false" desc:"the endpoint's IncludeOpForFullLoad: full-load rows start with an I field"`
	CdcInsertsOnly         bool   `envconfig:"DMS_CDC_INSERTS_ONLY" default:"false" desc:"the endpoint's CdcInsertsOnly: change files hold inserts only (with no Op field unless DMS_INCLUDE_OP_FOR_FULL_LOAD)"`
	CdcInsertsAndUpdates   bool   `envconfig:"DMS_CDC_INSERTS_AND_UPDATES" default:"false" desc:"the endpoint's CdcInsertsAndUpdates: change files hold inserts and updates, no deletes"`
	TimestampColumnName    string `envconfig:"DMS_TIMESTAMP_COLUMN_NAME" desc:"the endpoint's TimestampColumnName: the extra timestamp column DMS adds (loaded into a table column of that name if there is one)"`
	AddColumnName          bool   `envconfig:"DMS_ADD_COLUMN_NAME" default:"false" desc:"the endpoint's AddColumnName: every file starts with a header row (columns then go by name)"`
	UseCsvNoSupValue       bool   `envconfig:"DMS_USE_CSV_NO_SUP_VALUE" default:"false" desc:"the endpoint's UseCsvNoSupValue: a change row marks columns the source did not supply with DMS_CSV_NO_SUP_VALUE; they keep their value"`
	CsvNoSupValue          string `envconfig:"DMS_CSV_NO_SUP_VALUE" desc:"the endpoint's CsvNoSupValue: the not-supplied marker (required with DMS_USE_CSV_NO_SUP_VALUE)"`
	DatePartitionEnabled   bool   `envconfig:"DMS_DATE_PARTITION_ENABLED" default:"false" desc:"the endpoint's DatePartitionEnabled: change files go into date folders (earlier flat files are still read)"`
	DatePartitionSequence  string `envconfig:"DMS_DATE_PARTITION_SEQUENCE" default:"YYYYMMDD" desc:"the endpoint's DatePartitionSequence: YYYYMMDD, YYYYMMDDHH, YYYYMM, MMYYYYDD or DDMMYYYY"`
	DatePartitionDelimiter string `envconfig:"DMS_DATE_PARTITION_DELIMITER" default:"SLASH" desc:"the endpoint's DatePartitionDelimiter: SLASH, DASH, UNDERSCORE or NONE"`
	DatePartitionTimezone  string `envconfig:"DMS_DATE_PARTITION_TIMEZONE" desc:"the endpoint's DatePartitionTimezone (Area/Location): the zone of date folders and dated CDC file names; empty: UTC"`
	BeforeImagePrefix      string `envconfig:"DMS_BEFORE_IMAGE_PREFIX" desc:"column-prefix of the task's add-before-image-columns rule (pk-only), e.g. BI_: change rows carry the key before an UPDATE, so a changed primary key removes the old row"`
	BeforeImageSuffix      string `envconfig:"DMS_BEFORE_IMAGE_SUFFIX" desc:"column-suffix of that rule"`
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
	if c.Notifications && c.Stream == "" {
		errs = append(errs, errors.New("NATS_STREAM: required when NOTIFICATIONS is true"))
	}
	if c.DedupWindow < 1 {
		errs = append(errs, fmt.Errorf("DEDUP_WINDOW: at least 1 second, got %d", c.DedupWindow))
	}
	if c.OutboxHours < 0 {
		errs = append(errs, fmt.Errorf("OUTBOX_RETENTION: must not be negative, got %d", c.OutboxHours))
	}
	if c.LateWindow < 0 {
		errs = append(errs, fmt.Errorf("CDC_LATE_WINDOW: must not be negative, got %d", c.LateWindow))
	}
	if c.AuditEvery < 0 {
		errs = append(errs, fmt.Errorf("AUDIT_INTERVAL: must not be negative, got %d", c.AuditEvery))
	}
	if c.EventIDColumn != "" {
		if err := pg.CheckIdent(c.EventIDColumn); err != nil {
			errs = append(errs, fmt.Errorf("EVENT_ID_COLUMN: %w", err))
		}
	}
	if err := c.targetTimeout(); err != nil {
		errs = append(errs, err)
	}
	s, err := c.settings()
	if err != nil {
		errs = append(errs, err)
	} else if err := s.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// targetTimeout refuses a statement_timeout in TARGET's options: every
// connection is opened with SQL_TIMEOUT as its statement timeout, which
// PostgreSQL applies after the options, so the one in TARGET would be
// silently overridden.
func (c *Config) targetTimeout() error {
	if c.Target.IsZero() {
		return nil
	}
	pc, err := pgconn.ParseConfig(c.Target.Value())
	if err != nil {
		return nil // the pool reports it, naming TARGET
	}
	if opts := pc.RuntimeParams["options"]; strings.Contains(opts, "statement_timeout") {
		return errors.New("TARGET: its options set statement_timeout, which SQL_TIMEOUT replaces on every connection; remove it and set SQL_TIMEOUT (seconds) instead")
	}
	if _, ok := pc.RuntimeParams["statement_timeout"]; ok {
		return errors.New("TARGET: statement_timeout is set by SQL_TIMEOUT (seconds); remove it from TARGET")
	}
	return nil
}

// settings are the declared DMS endpoint settings.
func (c *Config) settings() (dms.Settings, error) {
	s := dms.Settings{
		IncludeOpForFullLoad: c.IncludeOpForFullLoad,
		CdcInsertsOnly:       c.CdcInsertsOnly,
		CdcInsertsAndUpdates: c.CdcInsertsAndUpdates,
		TimestampColumnName:  c.TimestampColumnName,
		AddColumnName:        c.AddColumnName,
		CsvNullValue:         c.CSVNullValue,
		UseCsvNoSupValue:     c.UseCsvNoSupValue,
		CsvNoSupValue:        c.CsvNoSupValue,
		BeforeImagePrefix:    c.BeforeImagePrefix,
		BeforeImageSuffix:    c.BeforeImageSuffix,
		DatePartition: dms.DatePartition{
			Enabled:   c.DatePartitionEnabled,
			Sequence:  strings.ToUpper(c.DatePartitionSequence),
			Delimiter: strings.ToUpper(c.DatePartitionDelimiter),
		},
	}
	if c.DatePartitionTimezone != "" {
		if !c.DatePartitionEnabled {
			return s, errors.New("DMS_DATE_PARTITION_TIMEZONE: DMS applies it only with date partitioning; set DMS_DATE_PARTITION_ENABLED=true or leave it empty")
		}
		loc, err := time.LoadLocation(c.DatePartitionTimezone)
		if err != nil {
			return s, fmt.Errorf("DMS_DATE_PARTITION_TIMEZONE: %q is not an Area/Location time zone: %w", c.DatePartitionTimezone, err)
		}
		s.DatePartition.Zone = loc
	}
	return s, nil
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

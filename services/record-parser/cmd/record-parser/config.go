package main

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"tributary.dev/libs/config"
	"tributary.dev/libs/setup"
	"tributary.dev/services/record-parser/internal/announce"
)

// Config is every variable the parser reads; `record-parser --help`
// prints it.
type Config struct {
	config.Common
	setup.SQL
	RecordDir      string           `envconfig:"RECORD_DIR" required:"true" desc:"the record-downloader's DEST_DIR (read only): record files and blocks (<19-digit number>.blk.zstd) under <YYYY-MM-DD>/, sidecars under <YYYY-MM-DD>/sidecar/"`
	OutputDir      string           `envconfig:"OUTPUT_DIR" desc:"NDJSON output: one <OUTPUT_DIR>/<YYYY-MM-DD>/<file>.ndjson per record file or block, a document per line, and its block document in <OUTPUT_DIR>/_blocks/<YYYY-MM-DD>/<file>.ndjson; empty: NDJSON off"`
	DeadLetterDir  string           `envconfig:"DEADLETTER_DIR" desc:"documents Elasticsearch refused for good, one NDJSON file per record file with the reason (default OUTPUT_DIR/_deadletter)"`
	QuarantineDir  string           `envconfig:"QUARANTINE_DIR" desc:"copies of record files and blocks refused (truncated, corrupt, unknown version, hash mismatch, misnamed) with a .reason file (default OUTPUT_DIR/_quarantine)"`
	ESURLs         string           `envconfig:"ELASTICSEARCH_URL" desc:"Elasticsearch 8, comma-separated URLs; empty: Elasticsearch off. Daily indices hedera-transactions-YYYY.MM.DD and hedera-blocks-YYYY.MM.DD from the templates installed at start"`
	ESUser         string           `envconfig:"ELASTICSEARCH_USERNAME" desc:"Elasticsearch basic-auth user"`
	ESPassword     config.Secret    `envconfig:"ELASTICSEARCH_PASSWORD" desc:"Elasticsearch basic-auth password"`
	ESAPIKey       config.Secret    `envconfig:"ELASTICSEARCH_API_KEY" desc:"Elasticsearch API key (instead of user and password)"`
	ESBulkBytes    int              `envconfig:"ES_BULK_BYTES" default:"5242880" desc:"bytes per _bulk request"`
	ESRetries      int              `envconfig:"ES_RETRIES" default:"5" desc:"attempts for documents Elasticsearch answers 429/5xx for, with backoff, before the file is given back to be tried again later"`
	ESTimeout      int              `envconfig:"ES_TIMEOUT" default:"60" desc:"seconds one Elasticsearch request may take"`
	Target         config.DSN       `envconfig:"TARGET" required:"true" desc:"PostgreSQL for the parser's state (files parsed, chain, halts), libpq form: user=… password=… host=… port=… dbname=…"`
	NATS           config.SecretURL `envconfig:"NATS" desc:"NATS server: the downloader's JetStream hand-off and hedera.records.parsed.<node> announcements"`
	Stream         string           `envconfig:"NATS_STREAM" default:"HEDERA_RECORDS" desc:"the record-downloader's JetStream stream"`
	Consumer       string           `envconfig:"NATS_CONSUMER" default:"record-parser" desc:"durable consumer name; replicas with the same name share the files"`
	Notifications  bool             `envconfig:"NOTIFICATIONS" default:"true" desc:"announce every file parsed on hedera.records.parsed.<node>, through the JetStream stream PARSED_STREAM"`
	ParsedStream   string           `envconfig:"PARSED_STREAM" default:"HEDERA_RECORDS_PARSED" desc:"JetStream stream the parsed events are kept in (created or updated at start), so a subscriber that was down reads what it missed"`
	ParsedMaxAge   int              `envconfig:"PARSED_MAX_AGE" default:"604800" desc:"seconds the parsed stream keeps an event (7 days): the longest a subscriber may be away without missing any"`
	ParsedMaxBytes int64            `envconfig:"PARSED_MAX_BYTES" default:"1073741824" desc:"bytes the parsed stream keeps (1 GiB: about a month of mainnet's events at one file every 2 s); past it the oldest are discarded"`
	ParsedDedup    int              `envconfig:"PARSED_DEDUP_WINDOW" default:"3600" desc:"seconds the parsed stream remembers an event's Nats-Msg-Id (<NETWORK>/<day>/<file>), so one sent again after a restart is dropped"`
	AckWait        int              `envconfig:"ACK_WAIT" default:"120" desc:"seconds a file in hand may go without a heartbeat before the stream hands it to another replica; heartbeats go every ACK_WAIT/3 while it is worked on"`
	Network        string           `envconfig:"NETWORK" default:"mainnet" desc:"name of the network whose stream RECORD_DIR holds; keys the chain state, so parsers of several networks can share TARGET"`
	OnChainBreak   string           `envconfig:"ON_CHAIN_BREAK" default:"stop" desc:"a file that does not continue the previous one: stop (halt the stream until the missing file is parsed, or record-parser resume) or continue (record the break, go on)"`
	Concurrency    int              `envconfig:"CONCURRENCY" default:"2" desc:"record files decoded at once per replica"`
	TxBytes        bool             `envconfig:"TRANSACTION_BYTES" default:"false" desc:"write every transaction's bytes (base64) in the documents' \"bytes\", as the mirror node does with persist.transactionBytes; false: only node create/update/delete transactions carry them, as in the mirror node by default"`
	ChainWait      int              `envconfig:"CHAIN_WAIT" default:"120" desc:"seconds a file whose predecessor is not recorded yet waits for it (another replica may be parsing it, or it is late), from the first time a replica saw it behind the same recorded file (files before it being recorded restart the wait), before the gap counts as a chain break; 0: at once"`
}

var networkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks what types cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.OutputDir == "" && c.ESURLs == "" {
		errs = append(errs, errors.New("OUTPUT_DIR and ELASTICSEARCH_URL are both empty: set at least one output"))
	}
	if c.OutputDir == "" && c.ESURLs != "" && c.DeadLetterDir == "" {
		errs = append(errs, errors.New("DEADLETTER_DIR: required when OUTPUT_DIR is empty and Elasticsearch is on"))
	}
	if c.OutputDir == "" && c.QuarantineDir == "" {
		errs = append(errs, errors.New("QUARANTINE_DIR: required when OUTPUT_DIR is empty"))
	}
	if _, err := c.esURLs(); err != nil {
		errs = append(errs, err)
	}
	if !networkName.MatchString(c.Network) {
		errs = append(errs, fmt.Errorf("NETWORK: %q: lower-case letters, digits, - and _ (e.g. mainnet)", c.Network))
	}
	switch c.OnChainBreak {
	case "stop", "continue":
	default:
		errs = append(errs, fmt.Errorf("ON_CHAIN_BREAK: stop or continue, got %q", c.OnChainBreak))
	}
	if (c.RunAsService || c.Notifications) && c.NATS.IsZero() {
		errs = append(errs, errors.New("NATS: required (the downloader's stream, and announcements unless NOTIFICATIONS=false)"))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"CONCURRENCY", c.Concurrency}, {"ACK_WAIT", c.AckWait}, {"ES_RETRIES", c.ESRetries}, {"ES_TIMEOUT", c.ESTimeout}, {"ES_BULK_BYTES", c.ESBulkBytes}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s: at least 1, got %d", v.name, v.n))
		}
	}
	if c.ChainWait < 0 {
		errs = append(errs, fmt.Errorf("CHAIN_WAIT: not negative, got %d", c.ChainWait))
	}
	if c.Notifications {
		if err := c.announceConfig().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) announceConfig() announce.Config {
	return announce.Config{
		Stream: c.ParsedStream, MaxAge: time.Duration(c.ParsedMaxAge) * time.Second, MaxBytes: c.ParsedMaxBytes,
		Dedup: time.Duration(c.ParsedDedup) * time.Second, Timeout: natsTimeout,
	}
}

func (c *Config) esURLs() ([]string, error) {
	var out []string
	for _, u := range strings.Split(c.ESURLs, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("ELASTICSEARCH_URL: %q is not an http(s) URL", u)
		}
		out = append(out, u)
	}
	return out, nil
}

func (c *Config) deadLetterDir() string {
	if c.DeadLetterDir != "" {
		return c.DeadLetterDir
	}
	return filepath.Join(c.OutputDir, "_deadletter")
}

func (c *Config) quarantineDir() string {
	if c.QuarantineDir != "" {
		return c.QuarantineDir
	}
	return filepath.Join(c.OutputDir, "_quarantine")
}

func (c *Config) statementTimeout() time.Duration { return time.Duration(c.SQLTimeout) * time.Second }

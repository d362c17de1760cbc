package target

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"tributary.dev/libs/pg"
	"tributary.dev/services/s3-loader/internal/dms"
	"tributary.dev/services/s3-loader/internal/source"
)

// ErrBadInput marks a delivery that cannot be applied as it is: a row
// with the wrong column count, a value of the wrong type, a corrupt
// gzip, an unknown table. Retrying will not help; ON_BAD_FILE decides.
var ErrBadInput = errors.New("bad input")

// ErrWaitingForParent marks a delivery that broke a foreign key: rows of
// a table whose parent rows have not been loaded yet (DMS writes each
// table's files on its own schedule), or a parent's delete whose child
// rows go in a later file. Nothing of it is applied; it is retried once
// the other table has moved on, and it is never bad input that
// ON_BAD_FILE=skip could drop.
var ErrWaitingForParent = errors.New("waiting for rows of another table (foreign key)")

// Stats are what a delivery really changed: an I for an existing key is
// an amend, a D for a missing key is counted apart as Missing.
type Stats struct {
	Rows    int64 // data rows in the file
	Created int64
	Amended int64
	Removed int64
	Missing int64 // deletes of keys that were not there
}

// Delivery is one file being applied.
type Delivery struct {
	ID         int64
	Bucket     string
	File       source.File
	Table      *Table
	Generation int
	Stats
	Bytes int64 // decompressed bytes read
	// MaxEventID is the largest EVENT_ID_COLUMN value in the file, as
	// text; nil when unset or absent. EventIDNumeric says whether it is a
	// number (for JSON).
	MaxEventID     *string
	EventIDNumeric bool
}

// Notification is an outbox row for a delivery.
type Notification struct {
	Subject string
	MsgID   string
	Payload []byte
}

// Options steer Apply.
type Options struct {
	// Settings are the DMS endpoint's, which shape the file.
	Settings      dms.Settings
	EventIDColumn string
	DryRun        bool // do all the work, then roll back
	// Started is called once the delivery has its id, before any data.
	Started func(d *Delivery)
	// Progress is called every ProgressEvery rows while data streams.
	Progress      func(d *Delivery, rows, bytes int64)
	ProgressEvery int64
	// Notify builds the delivery's notification, written to the outbox
	// in the same transaction; nil writes none.
	Notify func(d *Delivery) (Notification, error)
	// BeforeCommit runs just before COMMIT (crash tests pause here).
	BeforeCommit func(d *Delivery)
}

// rollbackTimeout bounds the rollback of a failed delivery.
const rollbackTimeout = 30 * time.Second

const (
	stageTable = "s3l_stage"
	lastTable  = "s3l_last"
	opColumn   = "s3l_op"
	seqColumn  = "s3l_seq"
	subColumn  = "s3l_sub" // 0: a delete made from a before-image; 1: the file's row
)

// Apply loads one delivery file in one transaction: its rows, its
// loader_deliveries row and its outbox row commit together or not at
// all. body is the decompressed CSV stream; it is read once, never
// buffered whole.
func (t *Target) Apply(ctx context.Context, d *Delivery, body io.Reader, opt Options) (err error) {
	tx, err := t.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", d.File.Key, err)
	}
	defer func() {
		if err != nil || opt.DryRun {
			// Even when ctx has ended; but bounded, so a server that
			// stopped answering cannot hang the pass here (pgx closes the
			// connection when the rollback fails, and the server then
			// rolls back on its own).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			_ = tx.Rollback(rctx)
		}
	}()
	if d.Generation == 0 {
		d.Generation = 1
	}
	err = tx.QueryRow(ctx, `
		INSERT INTO loader_deliveries (key, bucket, schema_name, table_name, target_table, kind, file_seq, file_time, size, etag, generation, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'loaded') RETURNING id`,
		d.File.Key, d.Bucket, d.File.Schema, d.File.Table, d.Table.String(), string(d.File.Kind), nullSeq(d.File), nullTime(d.File), d.File.Size,
		d.File.Version(), d.Generation,
	).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("%s: record delivery: %w", d.File.Key, err)
	}
	if opt.Started != nil {
		opt.Started(d)
	}

	p, err := planFile(d, opt.Settings, body)
	if err != nil {
		return err
	}
	counter := &lineCounter{r: p.in, every: opt.ProgressEvery, report: func(rows, n int64) {
		if opt.Progress != nil {
			opt.Progress(d, rows, n)
		}
	}}
	in := p.stream(counter)
	copyOpts := "FORMAT csv"
	if opt.Settings.CsvNullValue != "" {
		copyOpts += ", NULL " + quoteLiteral(opt.Settings.CsvNullValue)
	}

	eventCol := ""
	if c, ok := d.Table.Column(opt.EventIDColumn); ok && opt.EventIDColumn != "" {
		eventCol, d.EventIDNumeric = c.Name, c.Numeric
	}
	conn := tx.Conn().PgConn()
	if d.File.Kind == source.Load {
		err = t.applyLoad(ctx, tx, conn, d, p, copyOpts, in, eventCol)
	} else {
		err = t.applyCDC(ctx, tx, conn, d, p, opt.Settings, copyOpts, in, eventCol)
	}
	d.Bytes = p.headerBytes + counter.bytes
	if err != nil {
		switch {
		case counter.err != nil:
			// Reading the file failed mid-COPY. The server reports only
			// "COPY from stdin failed" (57014, the code of a statement
			// timeout) with the text; the reader's own error says what
			// happened: corrupt gzip, or a read cut off or timed out.
			return classifyRead(d.File.Key, p.headerLines+counter.lines+1, counter.err)
		case p.refused() != nil:
			// The field filter refused a record: its own error says
			// where (COPY only sees that its input failed).
			return copyError(d.File.Key, p.headerLines, counter.lines, p.refused())
		}
		return copyError(d.File.Key, p.headerLines, counter.lines, err)
	}

	_, err = tx.Exec(ctx, `
		UPDATE loader_deliveries SET rows = $2, created = $3, amended = $4, removed = $5, missing = $6,
		       max_event_id = $7, finished_at = now()
		WHERE id = $1`, d.ID, d.Rows, d.Created, d.Amended, d.Removed, d.Missing, d.MaxEventID)
	if err != nil {
		return fmt.Errorf("%s: record delivery: %w", d.File.Key, err)
	}
	if opt.Notify != nil && !opt.DryRun {
		n, err := opt.Notify(d)
		if err != nil {
			return fmt.Errorf("%s: build notification: %w", d.File.Key, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO loader_outbox (delivery_id, subject, msg_id, payload) VALUES ($1, $2, $3, $4)`,
			d.ID, n.Subject, n.MsgID, string(n.Payload)); err != nil {
			return fmt.Errorf("%s: write outbox: %w", d.File.Key, err)
		}
	}
	if opt.BeforeCommit != nil {
		opt.BeforeCommit(d)
	}
	if opt.DryRun {
		return nil // rolled back by the deferred function
	}
	if err := tx.Commit(ctx); err != nil {
		// A deferred foreign key is checked here.
		return copyError(d.File.Key, 0, 0, fmt.Errorf("commit: %w", err))
	}
	return nil
}

// applyLoad copies a full-load file. Into an empty table it copies
// straight in — the common case, as fast as COPY gets. Into a table that
// has rows it stages, then upserts, counting creates and amends.
func (t *Target) applyLoad(ctx context.Context, tx pgx.Tx, conn *pgconn.PgConn, d *Delivery, p *plan, copyOpts string, in io.Reader, eventCol string) error {
	var hasRows bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+d.Table.Quoted()+")").Scan(&hasRows); err != nil {
		return err
	}
	if !hasRows {
		n, err := pg.CopyFrom(ctx, conn, d.Table.Quoted(), p.copyCols, copyOpts, in)
		if err != nil {
			return err
		}
		d.Rows, d.Created = n, n
		return maxEvent(ctx, tx, d, d.Table.Quoted(), eventCol)
	}
	if len(d.Table.Key) == 0 {
		return fmt.Errorf("%s: %w: table %s has rows and no primary key, so a second full load cannot be merged", d.File.Key, ErrBadInput, d.Table)
	}
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+stageTable+" (LIKE "+d.Table.Quoted()+") ON COMMIT DROP"); err != nil {
		return err
	}
	if err := dropNotNull(ctx, tx, d.Table, nil); err != nil {
		return err
	}
	n, err := pg.CopyFrom(ctx, conn, stageTable, p.copyCols, copyOpts, in)
	if err != nil {
		return err
	}
	d.Rows = n
	err = tx.QueryRow(ctx, `
		WITH up AS (`+upsert(d.Table, p.dataCols, stageTable, "")+`)
		SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up`).Scan(&d.Created, &d.Amended)
	if err != nil {
		return err
	}
	return maxEvent(ctx, tx, d, stageTable, eventCol)
}

// upsert is INSERT … SELECT … ON CONFLICT DO UPDATE returning whether
// each row was created (xmax = 0 on a fresh tuple) or amended.
func upsert(tb *Table, columns []string, from, where string) string {
	cols := pg.QuoteIdents(columns)
	sql := "INSERT INTO " + tb.Quoted() + " (" + cols + ") SELECT " + cols + " FROM " + from
	if where != "" {
		sql += " WHERE " + where
	}
	var set []string
	isKey := map[string]bool{}
	for _, k := range tb.Key {
		isKey[k] = true
	}
	for _, c := range columns {
		if !isKey[c] {
			set = append(set, pg.QuoteIdent(c)+" = EXCLUDED."+pg.QuoteIdent(c))
		}
	}
	sql += " ON CONFLICT (" + pg.QuoteIdents(tb.Key) + ")"
	if len(set) == 0 {
		sql += " DO NOTHING"
	} else {
		sql += " DO UPDATE SET " + strings.Join(set, ", ")
	}
	return sql + " RETURNING (xmax = 0) AS created"
}

// dropNotNull lets the staging table hold what the entity table would
// refuse only after the merge (a delete's before-image may leave columns
// empty), after adding the extra columns.
func dropNotNull(ctx context.Context, tx pgx.Tx, tb *Table, extra []string) error {
	alter := extra
	for _, c := range tb.Columns {
		alter = append(alter, "ALTER COLUMN "+pg.QuoteIdent(c.Name)+" DROP NOT NULL")
	}
	_, err := tx.Exec(ctx, "ALTER TABLE "+stageTable+" "+strings.Join(alter, ", "))
	return err
}

func maxEvent(ctx context.Context, tx pgx.Tx, d *Delivery, from, eventCol string) error {
	if eventCol == "" {
		return nil
	}
	return tx.QueryRow(ctx, "SELECT max("+pg.QuoteIdent(eventCol)+")::text FROM "+from).Scan(&d.MaxEventID)
}

var copyWhere = regexp.MustCompile(`COPY \S+, line (\d+)(?:, column ([^:]+))?`)

type copyLineError struct {
	line   int64
	column string
	msg    string
}

func (e *copyLineError) Error() string { return e.msg }

// copyError turns an error from the COPY and merge into one naming the
// key, the file line and the column, marked ErrBadInput when the data is
// at fault rather than the database, and ErrWaitingForParent when a
// foreign key wants rows another table has not loaded yet.
func copyError(key string, headerLines, linesRead int64, err error) error {
	var le *copyLineError
	if errors.As(err, &le) {
		return fmt.Errorf("%s line %d column %s: %w: %s", key, le.line+headerLines, le.column, ErrBadInput, le.msg)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		where := ""
		if m := copyWhere.FindStringSubmatch(pe.Where); m != nil {
			line, _ := strconv.ParseInt(m[1], 10, 64)
			where = fmt.Sprintf(" line %d", line+headerLines)
			if col := m[2]; col != "" {
				if col == opColumn {
					col = "Op"
				}
				where += " column " + col
			}
		}
		if pe.Code == "23503" {
			return fmt.Errorf("%s%s: %w: %s (%s); retried at the next pass", key, where, ErrWaitingForParent, pe.Message, pe.Detail)
		}
		// 22: a value of the wrong type; 23: a constraint (a duplicate
		// key in a full load into an empty table); 21000: a duplicate key
		// in a full load merged into rows (ON CONFLICT cannot apply two).
		if strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || pe.Code == "21000" {
			return fmt.Errorf("%s%s: %w: %s", key, where, ErrBadInput, pe.Message)
		}
		return fmt.Errorf("%s%s: %w", key, where, err)
	}
	if errors.Is(err, ErrBadInput) {
		return err
	}
	return classifyRead(key, linesRead+headerLines+1, err)
}

// classifyRead names a failure reading the file: corrupt compression is
// bad input; anything else (the network) is worth a retry.
func classifyRead(key string, line int64, err error) error {
	if errors.Is(err, source.ErrCutOff) {
		// The read ended before the object did: whatever the
		// decompressor made of that, the file itself is not at fault.
		return fmt.Errorf("%s near line %d: read: %w", key, line, err)
	}
	// The types of the gzip reader source.Open uses.
	var corrupt flate.CorruptInputError
	if errors.As(err, &corrupt) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s near line %d: %w: corrupt gzip: %v", key, line, ErrBadInput, err)
	}
	return fmt.Errorf("%s near line %d: read: %w", key, line, err)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// lineCounter counts newlines as rows stream past, for progress logs and
// for naming the line where a read failed. bytes.Count is vectorised, so
// this costs little next to COPY.
type lineCounter struct {
	r      io.Reader
	err    error // the first read error other than io.EOF
	lines  int64
	bytes  int64
	every  int64
	next   int64
	report func(rows, bytes int64)
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	c.bytes += int64(n)
	if c.every > 0 && c.lines >= c.next {
		if c.next > 0 {
			c.report(c.lines, c.bytes)
		}
		c.next = (c.lines/c.every + 1) * c.every
	}
	return n, err
}

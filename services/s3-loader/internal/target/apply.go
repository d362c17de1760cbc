package target

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
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
	"tributary.dev/services/s3-loader/internal/source"
)

// ErrBadInput marks a delivery that cannot be applied as it is: a row
// with the wrong column count, a value of the wrong type, a corrupt
// gzip, an unknown table. Retrying will not help; ON_BAD_FILE decides.
var ErrBadInput = errors.New("bad input")

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
	ID     int64
	Bucket string
	File   source.File
	Table  *Table
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
	NullValue     string // CSV text meaning NULL; "" is the DMS default (empty unquoted field)
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
	err = tx.QueryRow(ctx, `
		INSERT INTO loader_deliveries (key, bucket, schema_name, table_name, target_table, kind, file_seq, file_time, size, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'loaded') RETURNING id`,
		d.File.Key, d.Bucket, d.File.Schema, d.File.Table, d.Table.String(), string(d.File.Kind), nullSeq(d.File), nullTime(d.File), d.File.Size,
	).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("%s: record delivery: %w", d.File.Key, err)
	}
	if opt.Started != nil {
		opt.Started(d)
	}

	in, columns, headerLines, headerBytes, err := readHeader(d, body)
	if err != nil {
		return err
	}
	counter := &lineCounter{r: in, every: opt.ProgressEvery, report: func(rows, n int64) {
		if opt.Progress != nil {
			opt.Progress(d, rows, n)
		}
	}}
	copyOpts := "FORMAT csv"
	if opt.NullValue != "" {
		copyOpts += ", NULL " + quoteLiteral(opt.NullValue)
	}

	eventCol := ""
	if c, ok := d.Table.Column(opt.EventIDColumn); ok && opt.EventIDColumn != "" {
		eventCol, d.EventIDNumeric = c.Name, c.Numeric
	}
	conn := tx.Conn().PgConn()
	if d.File.Kind == source.Load {
		err = t.applyLoad(ctx, tx, conn, d, columns, copyOpts, counter, eventCol)
	} else {
		err = t.applyCDC(ctx, tx, conn, d, columns, copyOpts, counter, eventCol)
	}
	d.Bytes = headerBytes + counter.bytes
	if err != nil {
		if counter.err != nil {
			// Reading the file failed mid-COPY. The server reports only
			// "COPY from stdin failed" (57014, the code of a statement
			// timeout) with the text; the reader's own error says what
			// happened: corrupt gzip, or a read cut off or timed out.
			return classifyRead(d.File.Key, headerLines+counter.lines+1, counter.err)
		}
		return copyError(d.File.Key, headerLines, counter.lines, err)
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
		return fmt.Errorf("%s: commit: %w", d.File.Key, err)
	}
	return nil
}

// applyLoad copies a full-load file. Into an empty table it copies
// straight in — the common case, as fast as COPY gets. Into a table that
// has rows it stages, then upserts, counting creates and amends.
func (t *Target) applyLoad(ctx context.Context, tx pgx.Tx, conn *pgconn.PgConn, d *Delivery, columns []string, copyOpts string, in io.Reader, eventCol string) error {
	var hasRows bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+d.Table.Quoted()+")").Scan(&hasRows); err != nil {
		return err
	}
	if !hasRows {
		n, err := pg.CopyFrom(ctx, conn, d.Table.Quoted(), columns, copyOpts, in)
		if err != nil {
			return err
		}
		d.Rows, d.Created = n, n
		return maxEvent(ctx, tx, d, d.Table.Quoted(), eventCol)
	}
	if len(d.Table.Key) == 0 {
		return fmt.Errorf("%s: %w: table %s has rows and no primary key, so a second full load cannot be merged", d.File.Key, ErrBadInput, d.Table)
	}
	if err := createStage(ctx, tx, d.Table, false); err != nil {
		return err
	}
	n, err := pg.CopyFrom(ctx, conn, stageTable, columns, copyOpts, in)
	if err != nil {
		return err
	}
	d.Rows = n
	err = tx.QueryRow(ctx, `
		WITH up AS (`+upsert(d.Table, columns, stageTable, "")+`)
		SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up`).Scan(&d.Created, &d.Amended)
	if err != nil {
		return err
	}
	return maxEvent(ctx, tx, d, stageTable, eventCol)
}

// applyCDC copies a change file into a staging table in file order, keeps
// the last change per key, then deletes and upserts in one statement.
func (t *Target) applyCDC(ctx context.Context, tx pgx.Tx, conn *pgconn.PgConn, d *Delivery, columns []string, copyOpts string, in io.Reader, eventCol string) error {
	if len(d.Table.Key) == 0 {
		return fmt.Errorf("%s: %w: table %s has no primary key for changes to match on", d.File.Key, ErrBadInput, d.Table)
	}
	if err := createStage(ctx, tx, d.Table, true); err != nil {
		return err
	}
	n, err := pg.CopyFrom(ctx, conn, stageTable, append([]string{opColumn}, columns...), copyOpts, in)
	if err != nil {
		return err
	}
	d.Rows = n
	var badSeq *int64
	var badOp *string
	err = tx.QueryRow(ctx, `SELECT `+seqColumn+`, `+opColumn+` FROM `+stageTable+`
		WHERE `+opColumn+` IS NULL OR `+opColumn+` NOT IN ('I', 'U', 'D') ORDER BY `+seqColumn+` LIMIT 1`).Scan(&badSeq, &badOp)
	if err == nil {
		op := "NULL"
		if badOp != nil {
			op = strconv.Quote(*badOp)
		}
		return &copyLineError{line: *badSeq, column: "Op", msg: "operation " + op + " is not I, U or D"}
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	key := pg.QuoteIdents(d.Table.Key)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+lastTable+` ON COMMIT DROP AS
		SELECT DISTINCT ON (`+key+`) * FROM `+stageTable+` ORDER BY `+key+`, `+seqColumn+` DESC`); err != nil {
		return err
	}
	var match []string
	for _, k := range d.Table.Key {
		match = append(match, "t."+pg.QuoteIdent(k)+" = l."+pg.QuoteIdent(k))
	}
	if _, err := tx.Exec(ctx, "SAVEPOINT s3l_merge"); err != nil {
		return err
	}
	err = tx.QueryRow(ctx, `
		WITH del AS (
			DELETE FROM `+d.Table.Quoted()+` t USING `+lastTable+` l
			WHERE l.`+opColumn+` = 'D' AND `+strings.Join(match, " AND ")+`
			RETURNING 1
		), up AS (`+upsert(d.Table, columns, lastTable, opColumn+" IN ('I', 'U')")+`)
		SELECT (SELECT count(*) FROM del),
		       (SELECT count(*) FROM `+lastTable+` WHERE `+opColumn+` = 'D'),
		       (SELECT count(*) FILTER (WHERE created) FROM up),
		       (SELECT count(*) FILTER (WHERE NOT created) FROM up)`).Scan(&d.Removed, &d.Missing, &d.Created, &d.Amended)
	if err != nil {
		return nullLine(ctx, tx, err)
	}
	d.Missing -= d.Removed
	return maxEvent(ctx, tx, d, stageTable, eventCol)
}

// nullLine turns a NOT NULL violation in the merge — which, unlike a
// COPY error, carries no line — into one naming the first change in the
// file that leaves the column empty. The merge ran after a savepoint, so
// the staged rows can still be read once it is rolled back to.
func nullLine(ctx context.Context, tx pgx.Tx, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23502" || pe.ColumnName == "" {
		return err
	}
	if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT s3l_merge"); rerr != nil {
		return err
	}
	var line int64
	qerr := tx.QueryRow(ctx, `SELECT `+seqColumn+` FROM `+lastTable+` WHERE `+opColumn+` IN ('I', 'U') AND `+
		pg.QuoteIdent(pe.ColumnName)+` IS NULL ORDER BY `+seqColumn+` LIMIT 1`).Scan(&line)
	if qerr != nil {
		return err
	}
	return &copyLineError{line: line, column: pe.ColumnName, msg: pe.Message}
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

// createStage makes a typed staging table shaped like the entity table,
// so COPY itself rejects bad numbers and dates with line and column.
// NOT NULL is dropped: a delete's before-image may leave columns empty.
func createStage(ctx context.Context, tx pgx.Tx, tb *Table, cdc bool) error {
	sql := "CREATE TEMP TABLE " + stageTable + " (LIKE " + tb.Quoted() + ") ON COMMIT DROP"
	if _, err := tx.Exec(ctx, sql); err != nil {
		return err
	}
	var alter []string
	if cdc {
		alter = append(alter, "ADD COLUMN "+opColumn+" text", "ADD COLUMN "+seqColumn+" bigint GENERATED ALWAYS AS IDENTITY")
	}
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

// readHeader decides whether the first line is a header (every field a
// column of the table; for CDC the first is Op) and returns the stream to
// copy, the table columns in file order, and how many lines it consumed.
func readHeader(d *Delivery, body io.Reader) (io.Reader, []string, int64, int64, error) {
	br := bufio.NewReaderSize(body, 256<<10)
	first, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, nil, 0, 0, classifyRead(d.File.Key, 1, err)
	}
	all := d.Table.names()
	rest := func() io.Reader { return io.MultiReader(bytes.NewReader(first), br) }
	if len(bytes.TrimSpace(first)) == 0 {
		return rest(), all, 0, 0, nil
	}
	fields, perr := csv.NewReader(bytes.NewReader(first)).Read()
	if perr != nil {
		return rest(), all, 0, 0, nil // not a one-line header; COPY will judge the data
	}
	names := fields
	if d.File.Kind == source.CDC {
		if !strings.EqualFold(strings.TrimSpace(fields[0]), "Op") {
			return rest(), all, 0, 0, nil
		}
		names = fields[1:]
	} else if _, ok := d.Table.Column(strings.TrimSpace(fields[0])); !ok {
		return rest(), all, 0, 0, nil
	}
	columns := make([]string, 0, len(names))
	seen := map[string]bool{}
	for i, n := range names {
		c, ok := d.Table.Column(strings.TrimSpace(n))
		if !ok {
			return nil, nil, 0, 0, fmt.Errorf("%s line 1: %w: header column %d %q is not a column of %s", d.File.Key, ErrBadInput, i+1, n, d.Table)
		}
		if seen[c.Name] {
			return nil, nil, 0, 0, fmt.Errorf("%s line 1: %w: header names column %q twice", d.File.Key, ErrBadInput, c.Name)
		}
		seen[c.Name] = true
		columns = append(columns, c.Name)
	}
	return br, columns, 1, int64(len(first)), nil
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
// at fault rather than the database.
func copyError(key string, headerLines, linesRead int64, err error) error {
	var le *copyLineError
	if errors.As(err, &le) {
		return fmt.Errorf("%s line %d column %s: %w: %s", key, le.line+headerLines, le.column, ErrBadInput, le.msg)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 22: a value of the wrong type; 23: a constraint (a duplicate
		// key in a full load into an empty table); 21000: a duplicate key
		// in a full load merged into rows (ON CONFLICT cannot apply two).
		bad := strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || pe.Code == "21000"
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
		if bad {
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

package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tributary.dev/libs/pg"
	"tributary.dev/services/s3-loader/internal/dms"
)

// applyCDC copies a change file into a staging table in file order, keeps
// the last change per key, then deletes and upserts in one statement.
//
// Two DMS settings change the merge:
//
//   - Before-image key columns (the add-before-image-columns rule, which
//     the user guide gives for S3 targets, where BeforeImageSettings do
//     not apply): DMS writes a primary-key UPDATE as one U row holding the
//     row after it, so the old key is in no other field. Where the
//     before-image key differs from the key, the old key is deleted just
//     before the U, so the old row does not linger.
//   - UseCsvNoSupValue: a column holding CsvNoSupValue was not supplied;
//     the row keeps the value it has (or had from an earlier change in the
//     same file) instead of taking NULL.
func (t *Target) applyCDC(ctx context.Context, tx pgx.Tx, conn *pgconn.PgConn, d *Delivery, p *plan, s dms.Settings, copyOpts string, in io.Reader, eventCol string) error {
	if len(d.Table.Key) == 0 {
		return fmt.Errorf("%s: %w: table %s has no primary key for changes to match on", d.File.Key, ErrBadInput, d.Table)
	}
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+stageTable+" (LIKE "+d.Table.Quoted()+") ON COMMIT DROP"); err != nil {
		return err
	}
	// Without an Op field (CdcInsertsOnly) every row is an insert. With
	// before-images, the sub column orders a delete made from one just
	// before its row (0, the file's rows 1).
	op := "ADD COLUMN " + opColumn + " text"
	if !p.hasOp {
		op += " DEFAULT 'I'"
	}
	extra := []string{op, "ADD COLUMN " + seqColumn + " bigint GENERATED ALWAYS AS IDENTITY"}
	if p.before != nil {
		extra = append(extra, "ADD COLUMN "+subColumn+" smallint NOT NULL DEFAULT 1")
	}
	keyType := map[string]string{}
	for _, c := range d.Table.Columns {
		keyType[c.Name] = c.Type
	}
	for i, col := range p.before {
		extra = append(extra, "ADD COLUMN "+col+" "+keyType[d.Table.Key[i]])
	}
	if p.noSup != nil {
		extra = append(extra, "ADD COLUMN "+maskColumn+" text")
	}
	if err := dropNotNull(ctx, tx, d.Table, extra); err != nil {
		return err
	}
	n, err := pg.CopyFrom(ctx, conn, stageTable, p.copyCols, copyOpts, in)
	if err != nil {
		return err
	}
	d.Rows = n
	if err := checkOps(ctx, tx, s.CDCOps()); err != nil {
		return err
	}
	if p.noSup != nil {
		if err := checkKeysSupplied(ctx, tx, d.Table, p.noSup); err != nil {
			return err
		}
	}
	if p.before != nil {
		if err := deleteOldKeys(ctx, tx, d.Table, p.before); err != nil {
			return err
		}
	}
	key := pg.QuoteIdents(d.Table.Key)
	if p.noSup == nil {
		order := key + ", " + seqColumn + " DESC"
		if p.before != nil {
			order += ", " + subColumn + " DESC"
		}
		_, err = tx.Exec(ctx, `CREATE TEMP TABLE `+lastTable+` ON COMMIT DROP AS
			SELECT DISTINCT ON (`+key+`) * FROM `+stageTable+` ORDER BY `+order)
	} else {
		err = foldNotSupplied(ctx, tx, d.Table, p.dataCols, p.noSup, p.before != nil)
	}
	if err != nil {
		return err
	}
	match := matchKeys(d.Table)
	if _, err := tx.Exec(ctx, "SAVEPOINT s3l_merge"); err != nil {
		return err
	}
	err = tx.QueryRow(ctx, `
		WITH del AS (
			DELETE FROM `+d.Table.Quoted()+` t USING `+lastTable+` l
			WHERE l.`+opColumn+` = 'D' AND `+strings.Join(match, " AND ")+`
			RETURNING 1
		), up AS (`+upsert(d.Table, p.dataCols, lastTable, opColumn+" IN ('I', 'U')")+`)
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

// checkOps names the first row whose Op the settings do not allow: a D
// with CdcInsertsAndUpdates, a U with CdcInsertsOnly, anything but I, U
// and D ever.
func checkOps(ctx context.Context, tx pgx.Tx, ops string) error {
	allowed := make([]string, len(ops))
	for i := range ops {
		allowed[i] = quoteLiteral(ops[i : i+1])
	}
	var badSeq *int64
	var badOp *string
	err := tx.QueryRow(ctx, `SELECT `+seqColumn+`, `+opColumn+` FROM `+stageTable+`
		WHERE `+opColumn+` IS NULL OR `+opColumn+` NOT IN (`+strings.Join(allowed, ", ")+`) ORDER BY `+seqColumn+` LIMIT 1`).Scan(&badSeq, &badOp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	op := "NULL"
	if badOp != nil {
		op = strconv.Quote(*badOp)
	}
	msg := "operation " + op + " is not " + opList(ops)
	if badOp != nil && len(ops) < 3 && strings.Contains("IUD", *badOp) {
		msg += " (the declared settings, DMS_CDC_INSERTS_ONLY or DMS_CDC_INSERTS_AND_UPDATES, rule it out)"
	}
	return &copyLineError{line: *badSeq, column: "Op", msg: msg}
}

// checkKeysSupplied refuses a change whose key column was "not
// supplied": without its key a change cannot be matched.
func checkKeysSupplied(ctx context.Context, tx pgx.Tx, tb *Table, noSup []string) error {
	for _, k := range tb.Key {
		pos := indexOf(noSup, k) + 1
		var line int64
		err := tx.QueryRow(ctx, `SELECT `+seqColumn+` FROM `+stageTable+` WHERE substr(`+maskColumn+`, $1, 1) = '1'
			ORDER BY `+seqColumn+` LIMIT 1`, pos).Scan(&line)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		return &copyLineError{line: line, column: k, msg: "the key column holds DMS_CSV_NO_SUP_VALUE (not supplied)"}
	}
	return nil
}

// deleteOldKeys adds, for every U row whose before-image key is set and
// differs from its key, a delete of the old key ordered just before it
// (same sequence number, sub 0), so the per-key merge removes the row
// the update moved away from.
func deleteOldKeys(ctx context.Context, tx pgx.Tx, tb *Table, before []string) error {
	keys := pg.QuoteIdents(tb.Key)
	var set, differs []string
	for _, b := range before {
		set = append(set, b)
		differs = append(differs, b+" IS NOT NULL")
	}
	olds := strings.Join(set, ", ")
	_, err := tx.Exec(ctx, `
		INSERT INTO `+stageTable+` (`+opColumn+`, `+keys+`, `+seqColumn+`, `+subColumn+`) OVERRIDING SYSTEM VALUE
		SELECT 'D', `+olds+`, `+seqColumn+`, 0 FROM `+stageTable+`
		WHERE `+opColumn+` = 'U' AND `+strings.Join(differs, " AND ")+` AND (`+olds+`) IS DISTINCT FROM (`+keys+`)`)
	return err
}

// foldNotSupplied builds the per-key result of a file whose rows may
// leave columns "not supplied": the last operation decides delete or
// upsert, and each column takes the last value supplied for it since the
// key's last delete; a column supplied by none of them keeps the value
// the table holds (NULL for a new row, or one deleted in the file).
func foldNotSupplied(ctx context.Context, tx pgx.Tx, tb *Table, dataCols, noSup []string, sub bool) error {
	keys := pg.QuoteIdents(tb.Key)
	ord := seqColumn + " * 2 + 1"
	if sub {
		ord = seqColumn + " * 2 + " + subColumn
	}
	since := "s3l_ord > s3l_last_delete AND " + opColumn + " <> 'D'"
	cols := []string{keys, "(array_agg(" + opColumn + " ORDER BY s3l_ord DESC))[1] AS " + opColumn,
		"max(" + seqColumn + ") AS " + seqColumn, "bool_or(" + opColumn + " = 'D') AS s3l_deleted"}
	var keep []string
	for _, c := range dataCols {
		if isKey(tb, c) {
			continue
		}
		q := pg.QuoteIdent(c)
		pos := indexOf(noSup, c)
		if pos < 0 { // always supplied (the timestamp column)
			cols = append(cols, "(array_agg("+q+" ORDER BY s3l_ord DESC) FILTER (WHERE "+since+"))[1] AS "+q)
			continue
		}
		supplied := fmt.Sprintf("%s AND substr(%s, %d, 1) = '0'", since, maskColumn, pos+1)
		flag := "s3l_supplied_" + strconv.Itoa(pos)
		cols = append(cols,
			"(array_agg("+q+" ORDER BY s3l_ord DESC) FILTER (WHERE "+supplied+"))[1] AS "+q,
			"coalesce(bool_or("+supplied+"), false) AS "+flag)
		keep = append(keep, q+" = CASE WHEN l."+flag+" THEN l."+q+" ELSE t."+q+" END")
	}
	_, err := tx.Exec(ctx, `CREATE TEMP TABLE `+lastTable+` ON COMMIT DROP AS
		WITH s AS (
			SELECT *, `+ord+` AS s3l_ord,
			       coalesce(max(`+ord+`) FILTER (WHERE `+opColumn+` = 'D') OVER (PARTITION BY `+keys+`), 0) AS s3l_last_delete
			FROM `+stageTable+`
		)
		SELECT `+strings.Join(cols, ", ")+` FROM s GROUP BY `+keys)
	if err != nil || len(keep) == 0 {
		return err
	}
	match := matchKeys(tb)
	_, err = tx.Exec(ctx, `UPDATE `+lastTable+` l SET `+strings.Join(keep, ", ")+`
		FROM `+tb.Quoted()+` t WHERE `+strings.Join(match, " AND ")+` AND l.`+opColumn+` <> 'D' AND NOT l.s3l_deleted`)
	return err
}

// matchKeys is the join of the table (t) and the per-key result (l) on
// the primary key.
func matchKeys(tb *Table) []string {
	var match []string
	for _, k := range tb.Key {
		match = append(match, "t."+pg.QuoteIdent(k)+" = l."+pg.QuoteIdent(k))
	}
	return match
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
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

package loader

import (
	"testing"
	"time"

	"tributary.dev/services/s3-loader/internal/source"
	"tributary.dev/services/s3-loader/internal/target"
)

// TestMarkersWithLongHistory: with half a million deliveries recorded,
// each table's marker is still its newest file, found by index — a pass
// does not slow down as history grows. (Measured at about a millisecond;
// the bound only catches a full scan of the history.)
func TestMarkersWithLongHistory(t *testing.T) {
	e := newEnv(t)
	tgt := target.New(e.pool)
	if err := tgt.Migrate(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `
		INSERT INTO loader_deliveries (key, bucket, schema_name, table_name, target_table, kind, file_seq, file_time, status)
		SELECT 'dms/dbo/t' || (g % 20) || '/' || g, 'b', 'dbo', 't' || (g % 20), 'x', 'cdc', NULL,
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', 'loaded'
		FROM generate_series(1, 500000) g;
		INSERT INTO loader_deliveries (key, bucket, schema_name, table_name, target_table, kind, file_seq, status)
		VALUES ('dms/dbo/t1/LOAD00000001.csv', 'b', 'dbo', 't1', 'x', 'load', 1, 'loaded'),
		       ('dms/dbo/t1/LOAD00000002.csv', 'b', 'dbo', 't1', 'x', 'load', 2, 'loaded'),
		       ('other/dbo/t1/LOAD00000003.csv', 'other', 'dbo', 't1', 'x', 'load', 3, 'loaded');
		ANALYZE loader_deliveries`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err := tgt.States(e.ctx, "b", []source.Table{{Schema: "dbo", Table: "t1"}, {Schema: "dbo", Table: "t7"}, {Schema: "dbo", Table: "new"}})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	want := map[source.Table]target.State{
		{Schema: "dbo", Table: "t1"}:  {Generation: 1, LastLoadSeq: 2, LastCDCKey: "dms/dbo/t1/499981", LastCDCTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(499981 * time.Second)},
		{Schema: "dbo", Table: "t7"}:  {Generation: 1, LastCDCKey: "dms/dbo/t7/499987", LastCDCTime: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(499987 * time.Second)},
		{Schema: "dbo", Table: "new"}: {Generation: 1},
	}
	for tb, w := range want {
		if got := m[tb]; got != w {
			t.Errorf("state of %s = %+v, want %+v", tb, got, w)
		}
	}
	if took > time.Second {
		t.Errorf("markers took %v over 500,000 recorded deliveries: the history is being scanned", took)
	}
}

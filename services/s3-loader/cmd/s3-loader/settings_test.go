package main

import (
	"strings"
	"testing"
)

// TestEachDMSSetting writes a table's files as the user guide says DMS
// writes them under one endpoint setting, declares the setting, and
// checks the table; then a file DMS would not write under that setting
// (or the same files read without declaring it) must stop the table with
// an error naming the file, and leave the table as it was.
//
// Guide sections: "Indicating source DB operations in migrated S3 data"
// (IncludeOpForFullLoad, CdcInsertsOnly, CdcInsertsAndUpdates), "Endpoint
// settings when using Amazon S3 as a target for AWS DMS" (CsvNullValue,
// AddColumnName, TimestampColumnName, UseCsvNoSupValue/CsvNoSupValue,
// DatePartitionTimezone), "Using date-based folder partitioning"
// (DatePartitionSequence, DatePartitionDelimiter), and the before-image
// transformation rule the guide gives for S3 targets.
func TestEachDMSSetting(t *testing.T) {
	type file struct{ key, body string }
	cases := []struct {
		name  string
		env   []string
		ddl   string // more tables
		files []file
		query string
		want  string
		// bad is a file the setting rules out: it stops the table, and
		// the error names it and says this.
		bad    file
		badEnv []string // run the bad case with other settings
		badErr string
	}{
		{
			name: "IncludeOpForFullLoad",
			env:  []string{"DMS_INCLUDE_OP_FOR_FULL_LOAD=true"},
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "I,1,ann\nI,2,ben\n"},
				{"dbo/customers/20240101-120000000.csv", "U,1,anna\nD,2,ben\nI,3,cid\n"},
			},
			query: `SELECT customer_id, name FROM customers ORDER BY 1`, want: "1|anna\n3|cid",
			bad:    file{"dbo/items/LOAD00000001.csv", "U,1,1,a\n"},
			badErr: `column Op: bad input: operation "U" is not I`,
		},
		{
			name: "IncludeOpForFullLoad not declared",
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "1,ann\n"},
			},
			query: `SELECT customer_id, name FROM customers ORDER BY 1`, want: "1|ann",
			// A full load written with the Op field, read as DMS's default.
			bad:    file{"dbo/items/LOAD00000001.csv", "I,1,1,a\n"},
			badErr: "dms/dbo/items/LOAD00000001.csv line 1",
		},
		{
			name: "CdcInsertsOnly",
			env:  []string{"DMS_CDC_INSERTS_ONLY=true"},
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "1,ann\n"},
				// No Op field: every row is an insert; one of a key that
				// is there amends it.
				{"dbo/customers/20240101-120000000.csv", "2,ben\n1,anna\n"},
			},
			query: `SELECT customer_id, name FROM customers ORDER BY 1`, want: "1|anna\n2|ben",
			bad:    file{"dbo/customers/20240101-130000000.csv", "U,1,x\n"},
			badEnv: []string{"DMS_CDC_INSERTS_ONLY=true", "DMS_INCLUDE_OP_FOR_FULL_LOAD=true"},
			badErr: `operation "U" is not I (the declared settings, DMS_CDC_INSERTS_ONLY or DMS_CDC_INSERTS_AND_UPDATES, rule it out)`,
		},
		{
			name: "CdcInsertsOnly with IncludeOpForFullLoad",
			env:  []string{"DMS_CDC_INSERTS_ONLY=true", "DMS_INCLUDE_OP_FOR_FULL_LOAD=true"},
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "I,1,ann\n"},
				{"dbo/customers/20240101-120000000.csv", "I,2,ben\n"},
			},
			query: `SELECT customer_id, name FROM customers ORDER BY 1`, want: "1|ann\n2|ben",
			bad:    file{"dbo/customers/20240101-130000000.csv", "2,ben\n"},
			badErr: "dms/dbo/customers/20240101-130000000.csv line 1",
		},
		{
			name: "CdcInsertsAndUpdates",
			env:  []string{"DMS_CDC_INSERTS_AND_UPDATES=true"},
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "1,ann\n"},
				{"dbo/customers/20240101-120000000.csv", "I,2,ben\nU,1,anna\n"},
			},
			query: `SELECT customer_id, name FROM customers ORDER BY 1`, want: "1|anna\n2|ben",
			bad:    file{"dbo/customers/20240101-130000000.csv", "D,1,anna\n"},
			badErr: `operation "D" is not I or U`,
		},
		{
			name: "AddColumnName",
			env:  []string{"DMS_ADD_COLUMN_NAME=true"},
			files: []file{
				{"dbo/orders/LOAD00000001.csv", "EVENT_ID,AMOUNT,ORDER_ID,CUSTOMER\n1,1.00,1,ann\n"},
				{"dbo/orders/20240101-120000000.csv", "Op,ORDER_ID,CUSTOMER,AMOUNT,EVENT_ID\nU,1,anna,1.50,2\n"},
			},
			query: `SELECT order_id, customer, amount::text, event_id FROM orders`, want: "1|anna|1.50|2",
			bad:    file{"dbo/orders/20240101-130000000.csv", "U,1,x,1.00,3\n"},
			badErr: "line 1: bad input: no header row, but DMS_ADD_COLUMN_NAME is true",
		},
		{
			name: "AddColumnName not declared",
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "1,ann\n"},
			},
			query: `SELECT customer_id, name FROM customers`, want: "1|ann",
			bad:    file{"dbo/customers/20240101-130000000.csv", "Op,customer_id,name\nU,1,x\n"},
			badErr: "the first line is a header row (Op,customer_id,name), but DMS_ADD_COLUMN_NAME is false",
		},
		{
			name: "CsvNullValue",
			env:  []string{"CSV_NULL_VALUE=NULL"},
			files: []file{
				// With a NULL text, an empty field is an empty string.
				{"dbo/customers/LOAD00000001.csv", "1,NULL\n2,\"\"\n3,\n"},
			},
			query: `SELECT customer_id, coalesce('[' || name || ']', 'NULL') FROM customers ORDER BY 1`, want: "1|NULL\n2|[]\n3|[]",
			// NULL is NULL in the key too, which no row may have.
			bad:    file{"dbo/customers/LOAD00000002.csv", "NULL,x\n"},
			badErr: `bad input: null value in column "customer_id"`,
		},
		{
			name: "TimestampColumnName, no such table column",
			env:  []string{"DMS_TIMESTAMP_COLUMN_NAME=dms_ts"},
			files: []file{
				// The full load's transfer time, the change's commit time:
				// right after Op, yyyy-MM-dd HH:mm:ss.SSSSSS.
				{"dbo/customers/LOAD00000001.csv", "2024-01-01 10:00:00.000000,1,ann\n"},
				{"dbo/customers/20240101-120000000.csv", "U,2024-01-01 11:00:00.123456,1,anna\n"},
			},
			query: `SELECT customer_id, name FROM customers`, want: "1|anna",
			bad:    file{"dbo/customers/20240101-130000000.csv", "U,1,x,2024-01-01 12:00:00.000000\n"},
			badErr: `column dms_ts: bad input: "1" is not a DMS timestamp`,
		},
		{
			name: "TimestampColumnName into a table column",
			env:  []string{"DMS_TIMESTAMP_COLUMN_NAME=dms_ts", "DMS_ADD_COLUMN_NAME=true"},
			ddl:  `CREATE TABLE notes (note_id int PRIMARY KEY, body text, dms_ts timestamp)`,
			files: []file{
				{"dbo/notes/LOAD00000001.csv", "dms_ts,note_id,body\n2024-01-01 10:00:00.000000,1,first\n"},
				{"dbo/notes/20240101-120000000.csv", "Op,dms_ts,note_id,body\nU,2024-01-01 11:00:00.123456,1,second\n"},
			},
			query: `SELECT note_id, body, to_char(dms_ts, 'YYYY-MM-DD HH24:MI:SS.US') FROM notes`, want: "1|second|2024-01-01 11:00:00.123456",
			bad:    file{"dbo/notes/20240101-130000000.csv", "Op,note_id,body\nU,1,x\n"},
			badErr: "no dms_ts column in the header, but DMS_TIMESTAMP_COLUMN_NAME names it",
		},
		{
			name: "UseCsvNoSupValue",
			env:  []string{"DMS_USE_CSV_NO_SUP_VALUE=true", "DMS_CSV_NO_SUP_VALUE=@NOSUP@"},
			ddl:  `CREATE TABLE docs (doc_id int PRIMARY KEY, title text, body text)`,
			files: []file{
				{"dbo/docs/LOAD00000001.csv", "1,a,long body one\n2,b,long body two\n4,d,long body four\n"},
				// The LOB column not supplied keeps its value; within one
				// file the last value supplied wins; a new row gets NULL;
				// after a delete nothing of the old row comes back.
				{"dbo/docs/20240101-120000000.csv", "U,1,a2,@NOSUP@\n" +
					"U,2,b2,new body two\nU,2,b3,@NOSUP@\n" +
					"I,3,c,@NOSUP@\n" +
					"D,4,d,@NOSUP@\nI,4,d2,@NOSUP@\n"},
			},
			query: `SELECT doc_id, title, body FROM docs ORDER BY 1`, want: "1|a2|long body one\n2|b3|new body two\n3|c|NULL\n4|d2|NULL",
			bad:    file{"dbo/docs/20240101-130000000.csv", "U,@NOSUP@,x,y\n"},
			badErr: "line 1 column doc_id: bad input: the key column holds DMS_CSV_NO_SUP_VALUE",
		},
		{
			name: "UseCsvNoSupValue not declared",
			ddl:  `CREATE TABLE docs (doc_id int PRIMARY KEY, title text, body text)`,
			files: []file{
				{"dbo/docs/LOAD00000001.csv", "1,a,long body one\n"},
			},
			query: `SELECT doc_id, title, body FROM docs ORDER BY 1`, want: "1|a|long body one",
			// The marker in an integer key is no value at all.
			bad:    file{"dbo/docs/20240101-130000000.csv", "U,@NOSUP@,x,y\n"},
			badErr: `line 1 column doc_id: bad input: invalid input syntax for type integer: "@NOSUP@"`,
		},
		{
			// Asia/Seoul is nine hours ahead of UTC. Date folders were
			// switched on after a flat file (UTC), and in that zone
			// 2024-01-02 07:50 is 22:50 UTC the day before: before the
			// flat file's 23:00, so it applies first.
			name: "DatePartitionTimezone, DASH folders switched on mid-stream",
			env:  []string{"DMS_DATE_PARTITION_ENABLED=true", "DMS_DATE_PARTITION_DELIMITER=DASH", "DMS_DATE_PARTITION_TIMEZONE=Asia/Seoul"},
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "1,ann\n"},
				{"dbo/customers/20240101-230000000.csv", "U,1,flat 23:00 UTC\n"},
				{"dbo/customers/2024-01-02/20240102-075000000.csv", "U,1,dated 22:50 UTC\n"},
			},
			query: `SELECT name FROM customers`, want: "flat 23:00 UTC",
			bad:    file{"dbo/customers/2024/01/03/20240103-075000000.csv", "U,1,x\n"},
			badErr: `dms/dbo/customers/2024/01/03/20240103-075000000.csv: not a DMS delivery file the loader can place: folder "2024/01/03" is not a date folder of DMS_DATE_PARTITION_SEQUENCE=YYYYMMDD, DMS_DATE_PARTITION_DELIMITER=DASH`,
		},
		{
			name: "DatePartitionSequence YYYYMMDDHH, NONE",
			env:  []string{"DMS_DATE_PARTITION_ENABLED=true", "DMS_DATE_PARTITION_SEQUENCE=YYYYMMDDHH", "DMS_DATE_PARTITION_DELIMITER=NONE"},
			files: []file{
				{"dbo/customers/LOAD00000001.csv", "1,ann\n"},
				{"dbo/customers/2024010213/20240102-133000000.csv", "U,1,13:30\n"},
				{"dbo/customers/2024010214/20240102-140500000.csv", "U,1,14:05\n"},
			},
			query: `SELECT name FROM customers`, want: "14:05",
			bad:    file{"dbo/customers/2024010215/20240102-140000000.csv", "U,1,x\n"},
			badErr: `folder "2024010215" is later than the file's own time`,
		},
		{
			// A primary-key UPDATE reaches S3 as one U row holding the row
			// after it; with the add-before-image-columns rule it also
			// holds the key before it, and the old row goes.
			name: "before-image key columns",
			env:  []string{"DMS_BEFORE_IMAGE_PREFIX=BI_", "DMS_ADD_COLUMN_NAME=true"},
			files: []file{
				{"dbo/orders/LOAD00000001.csv", "order_id,customer,amount,event_id\n1,ann,1.00,1\n2,ben,2.00,2\n"},
				{"dbo/orders/20240101-120000000.csv", "Op,order_id,customer,amount,event_id,BI_order_id\n" +
					"U,10,ann,1.00,3,1\n" + // key 1 becomes 10
					"U,2,ben,2.50,4,2\n" + // an update that keeps its key
					"I,3,cid,3.00,5,\n" +
					"U,11,ann,1.00,6,10\n"}, // and 10 becomes 11 in the same file
			},
			query: `SELECT order_id, customer, amount::text FROM orders ORDER BY 1`, want: "2|ben|2.50\n3|cid|3.00\n11|ann|1.00",
			bad:    file{"dbo/orders/20240101-130000000.csv", "Op,order_id,customer,amount,event_id\nU,11,x,1.00,7\n"},
			badErr: "no before-image column BI_order_id in the header",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newProcEnv(t)
			if c.ddl != "" {
				if _, err := e.pool.Exec(e.ctx, c.ddl); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range c.files {
				e.put(f.key, []byte(f.body))
			}
			e.run(c.env...)
			if got := e.rows(c.query); got != c.want {
				t.Fatalf("after the files DMS wrote:\n%s\nwant\n%s", got, c.want)
			}
			before := e.rows(`SELECT key, status FROM loader_deliveries ORDER BY id`)
			e.put(c.bad.key, []byte(c.bad.body))
			env := c.env
			if c.badEnv != nil {
				env = c.badEnv
			}
			out := e.runFail(env...)
			if !strings.Contains(out, c.badErr) || !strings.Contains(out, "dms/"+c.bad.key) {
				t.Fatalf("output lacks %q naming %s:\n%s", c.badErr, c.bad.key, out)
			}
			if got := e.rows(c.query); got != c.want {
				t.Fatalf("the refused file changed the table:\n%s\nwant\n%s", got, c.want)
			}
			if got := e.rows(`SELECT key, status FROM loader_deliveries ORDER BY id`); got != before {
				t.Fatalf("the refused file was recorded:\n%s", got)
			}
		})
	}
}

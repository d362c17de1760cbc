// Package sample is a small set of DMS deliveries for `make run`: three
// entities, a full load each (gzipped and plain) and CDC files with
// inserts, updates and deletes, flat and in date folders, so a newcomer
// sees deliveries load and notifications go out.
package sample

// Path is the bucket_path the sample deliveries live under.
const Path = "paper-engine"

// SchemaSQL creates the tables the deliveries load into, as an operator's
// schema scripts would.
const SchemaSQL = `
CREATE TABLE IF NOT EXISTS public.orders (
	order_id   bigint PRIMARY KEY,
	customer   text NOT NULL,
	amount     numeric(12,2),
	status     text,
	created_at timestamptz,
	event_id   bigint
);
CREATE TABLE IF NOT EXISTS public.customers (
	customer_id integer PRIMARY KEY,
	name        text,
	email       text
);
CREATE TABLE IF NOT EXISTS public.order_items (
	order_id bigint,
	line     integer,
	sku      text,
	qty      integer,
	PRIMARY KEY (order_id, line)
);`

// Env is the DMS endpoint settings the sample files were written with,
// as the loader's environment declares them: a header row in every file
// (AddColumnName) and date folders (DatePartitionEnabled, switched on
// mid-stream: the first change files are flat).
var Env = []string{"DMS_ADD_COLUMN_NAME=true", "DMS_DATE_PARTITION_ENABLED=true"}

// File is one delivery file; Gzip asks the caller to compress it.
type File struct {
	Key  string // below Path
	Body string
	Gzip bool
}

// Deliveries returns the sample files in the order a DMS task would
// write them.
func Deliveries() []File {
	return []File{
		{Key: "dbo/customers/LOAD00000001.csv", Body: "customer_id,name,email\n1,Ada,ada@example.com\n2,Brian,brian@example.com\n3,Chen,chen@example.com\n"},
		{Key: "dbo/orders/LOAD00000001.csv.gz", Gzip: true, Body: "order_id,customer,amount,status,created_at,event_id\n" +
			"1001,Ada,120.50,OPEN,2024-03-01 09:00:00+00,1\n1002,Brian,75.00,OPEN,2024-03-01 09:05:00+00,2\n1003,Chen,300.00,FILLED,2024-03-01 09:10:00+00,3\n"},
		{Key: "dbo/order_items/LOAD00000001.csv", Body: "order_id,line,sku,qty\n1001,1,SKU-RED,2\n1001,2,SKU-BLUE,1\n1002,1,SKU-GREEN,5\n1003,1,SKU-RED,10\n"},
		{Key: "dbo/orders/20240301-100000000.csv", Body: "Op,order_id,customer,amount,status,created_at,event_id\n" +
			"U,1001,Ada,120.50,FILLED,2024-03-01 09:00:00+00,4\nI,1004,Ada,42.00,OPEN,2024-03-01 10:00:00+00,5\nD,1002,,,,,6\n"},
		{Key: "dbo/order_items/2024/03/01/20240301-100000000.csv.gz", Gzip: true, Body: "Op,order_id,line,sku,qty\nD,1002,1,SKU-GREEN,5\nI,1004,1,SKU-BLUE,3\n"},
		{Key: "dbo/orders/20240301-110000000.csv", Body: "Op,order_id,customer,amount,status,created_at,event_id\nU,1004,Ada,42.00,CANCELLED,2024-03-01 10:00:00+00,7\n"},
	}
}

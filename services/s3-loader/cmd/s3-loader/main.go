// Command s3-loader loads AWS DMS deliveries (full load and CDC) from S3
// into PostgreSQL, one transaction per file, and announces each on NATS.
// Verbs: run (the default), reload.
package main

import (
	"fmt"
	"io"
	"os"
)

const summary = "loads AWS DMS deliveries (full load + CDC) from S3 into PostgreSQL and announces each on NATS"

func main() {
	verb, args := "run", os.Args[1:]
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' && args[0] != "help" {
		verb, args = args[0], args[1:]
	}
	switch verb {
	case "run":
		runMain(args)
	case "reload":
		reloadMain(args)
	default:
		fmt.Fprintf(os.Stderr, "s3-loader: unknown verb %q\n", verb)
		verbs(os.Stderr)
		os.Exit(2)
	}
}

func verbs(w io.Writer) {
	fmt.Fprint(w, `
Verbs:
  s3-loader [run]       the service: apply new DMS deliveries every MIN_SLEEP..MAX_SLEEP seconds
                        (RUN_AS_SERVICE=false: one pass)
  s3-loader reload [--cdc-from RFC3339] [--note TEXT] SCHEMA.TABLE...
                        after DMS reloaded tables (and reports the reload complete): empty their
                        target tables and load the new snapshot, then the changes after it; name
                        tables that reference each other together
`)
}

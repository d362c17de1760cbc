// Command record-parser decodes the record files the record-downloader
// wrote (v2, v5, v6 with sidecars), checks every hash and the chain
// between files, and writes each transaction as a document shaped like
// the mirror node REST API's transaction object to NDJSON and
// Elasticsearch, announcing each file on hedera.records.parsed.<node>.
// `record-parser backfill --marker YYYY-MM-DD` parses one day directory;
// `status` and `resume` are for chain breaks; `reparse` takes back a
// quarantined file whose copy the operator replaced.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
)

const summary = "decodes Hedera record files (v2/v5/v6, sidecars) and blocks (HIP-1056, wrapped record blocks), verifies hashes and the chain, writes every transaction and a block document to NDJSON and Elasticsearch, announces on NATS"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "backfill":
			backfillMain(os.Args[2:])
			return
		case "status":
			statusMain(os.Args[2:])
			return
		case "resume":
			resumeMain(os.Args[2:])
			return
		case "reparse":
			reparseMain(os.Args[2:])
			return
		}
	}
	var cfg Config
	setup.Main("record-parser", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
		s, err := build(ctx, &cfg, env, kindService)
		if err != nil {
			return err
		}
		rc := env.Runner()
		// The loop is the consumer's: a pass consumes until the process
		// is asked to stop, or (RUN_AS_SERVICE=false) until nothing is
		// pending. A failed pass (Elasticsearch down, say) sleeps and
		// starts again.
		return runner.Run(ctx, rc, env.Log, func(ctx context.Context) error {
			return s.parser.Consume(ctx, s.consumer, !cfg.RunAsService)
		})
	}, setup.MoreHelp(verbs))
}

func verbs(w io.Writer) {
	fmt.Fprint(w, `
Verbs:
  record-parser                       consume the downloader's stream (RUN_AS_SERVICE=false:
                                      until nothing is pending, then exit)
  record-parser backfill --marker D   parse RECORD_DIR/D (a day, YYYY-MM-DD) in consensus order;
                                      files already parsed are skipped unless --force (which also
                                      takes back quarantined files that parse now); exits 1 if a
                                      file failed or the directory holds no record file
  record-parser reparse DAY/FILE...   parse quarantined record files again after their copies in
                                      RECORD_DIR were replaced, and record them as parsed if they
                                      fit the chain: the gap they left closes, a halt it caused lifts
  record-parser status                the stream's position, halt and chain breaks
  record-parser resume                after a chain break halted the stream (ON_CHAIN_BREAK=stop):
                                      accept the break and let the stream go on
`)
}

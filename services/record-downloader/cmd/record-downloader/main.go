// Command record-downloader mirrors Hedera nodes' record streams from
// their GCS or S3 buckets into a local record directory, verified by the
// nodes' signatures, and announces each file on
// hedera.records.downloaded.<node>. `record-downloader backfill --marker
// <time prefix>` fetches one range apart from the live position.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"tributary.dev/libs/runner"
	"tributary.dev/libs/setup"
)

const summary = "mirrors Hedera record streams from the nodes' GCS/S3 buckets into a local directory, verified by node signatures, announced on NATS"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backfill" {
		backfillMain(os.Args[2:])
		return
	}
	var cfg Config
	setup.Main("record-downloader", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
		a, err := build(ctx, &cfg, env)
		if err != nil {
			return err
		}
		return runner.Run(ctx, env.Runner(), env.Log, a.pass)
	}, setup.MoreHelp(verbs))
}

func verbs(w io.Writer) {
	fmt.Fprint(w, `
Verbs:
  record-downloader                      the live stream: passes as RUN_AS_SERVICE says
  record-downloader backfill --marker M  download and verify only files whose names start with M
                                         (a consensus-time prefix: 2022-07-13T08_46, 2022-07, ...),
                                         apart from the live position; resumable; exits 1 if no
                                         node has anything under M, if it verified nothing (it says
                                         why), or if it stopped before the end of M's files
  record-downloader backfill --blocks A-B  download and verify blocks A to B (wrapped record blocks
                                         for history before the cutover) from the block sources,
                                         apart from the live position; resumable; exits 1 if a
                                         block is refused or it stopped before B
`)
}

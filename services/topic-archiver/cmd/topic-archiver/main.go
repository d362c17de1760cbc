// Command topic-archiver archives every public Kafka topic to S3 (BSON) and
// PostgreSQL (an index), and carries the operators' utilities as verbs:
// list, connect, status, publish, verify, inspect, uuids, restore, logs,
// clean-tests, clean-duplicates.
package main

import (
	"context"
	"fmt"
	"os"

	"tributary.dev/libs/setup"
	"tributary.dev/services/topic-archiver/internal/tools"
)

const summary = "archives every public Kafka topic to S3 + PostgreSQL and restores it"

func main() {
	verb, args := splitVerb(os.Args[1:])
	if verb != "run" && verb != "help" && !tools.Known(verb) {
		fmt.Fprintf(os.Stderr, "topic-archiver: unknown verb %q\nusage: topic-archiver [VERB] [--help | --version]\n\nVerbs (topic-archiver VERB --help for each):\n", verb)
		tools.PrintVerbs(os.Stderr)
		os.Exit(2)
	}
	var cfg Config
	setup.Main("topic-archiver", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
		if verb == "run" {
			return run(ctx, &cfg, env)
		}
		return runVerb(ctx, &cfg, env, verb, args)
	}, verbOptions(verb, args)...)
}

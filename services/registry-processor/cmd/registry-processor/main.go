// Command registry-processor is the BC Registries event processor: it
// watches the registry's COLIN event queue, loads each changed
// corporation's history, generates its verifiable-credential payloads
// into the original's event-processor database and posts them to the
// issuer controller. It is a drop-in for the original Python pipeline on
// the same database. Verbs: run (the default), migrate, initial-load,
// post, status, requeue, verify, testdata generate.
package main

import (
	"fmt"
	"io"
	"os"
)

const summary = "registry events to verifiable credentials: finds COLIN events, generates credentials into the event-processor database, posts them to the issuer controller"

func main() {
	verb, args := "run", os.Args[1:]
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' && args[0] != "help" {
		verb, args = args[0], args[1:]
	}
	switch verb {
	case "run":
		runMain(args)
	case "migrate":
		migrateMain(args)
	case "initial-load":
		initialLoadMain(args)
	case "post":
		postMain(args)
	case "status":
		statusMain(args)
	case "requeue":
		requeueMain(args)
	case "verify":
		verifyMain(args)
	case "testdata":
		testdataMain(args)
	default:
		fmt.Fprintf(os.Stderr, "registry-processor: unknown verb %q\n", verb)
		verbs(os.Stderr)
		os.Exit(2)
	}
}

func verbs(w io.Writer) {
	fmt.Fprint(w, `
Verbs:
  registry-processor [run]              the service: find new events, queue their corps, generate
                                        credentials, post them; every MIN_SLEEP..MAX_SLEEP seconds
                                        (RUN_AS_SERVICE=false: one run)
  registry-processor migrate            create or accept the event-processor tables, then exit
  registry-processor initial-load       queue every corporation of SOURCE_DB (a fresh database only)
                                        and generate their credentials
  registry-processor post [--unconfirmed]
                                        post what is waiting in credential_log, then exit; with
                                        --unconfirmed also send again what was sent and never answered
  registry-processor status [--json]    per table: processed, outstanding, errors, recent errors;
                                        held credentials and rows, the lag behind the source (reads only)
  registry-processor requeue --failed [--corp N]
                                        queue failed corps again and reset failed credentials
  registry-processor requeue --corp N   queue corp N again with its whole history, whatever it came to
  registry-processor verify --corp N[,N…] | --from A [--to B] | --all
                                        regenerate from SOURCE_DB and compare with credential_log: a diff,
                                        nothing changed; exit 1 when anything differs
  registry-processor testdata generate --corps N --seed S [--events N]
                                        fill SOURCE_DB with realistic COLIN data (a test database!)
`)
}

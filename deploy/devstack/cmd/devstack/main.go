// Command devstack runs Tributary's dependencies on fixed local ports — the
// same real servers the tests use — loads sample data, prints the
// environment each service needs and, with -services, runs the service
// binaries with their output prefixed by name. Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"tributary.dev/deploy/devstack/stack"
	"tributary.dev/libs/logging"
	"tributary.dev/libs/testkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	var (
		services = flag.String("services", "", "space-separated service binaries to run from -bin (empty: dependencies only)")
		binDir   = flag.String("bin", "./bin", "directory holding the service binaries")
		stateDir = flag.String("state", ".cache/devstack", "directory for S3 objects, NATS streams and service state (wiped at start)")
		noSample = flag.Bool("no-sample", false, "start empty: no sample deliveries, no record streams, no trickles")
		cutover  = flag.Int("cutover-after", stack.TrickleCutoverAfter, "record files the trickle writes before its network cuts over to blocks (0: never)")
		fixtures = flag.String("fixtures", filepath.Join(testkit.RepoRoot(), "testdata", "hedera", "hedera-mirror-node"), "Hedera fixture files (recordstreams/, addressbook/) whose record streams are uploaded to GCS")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: devstack [flags]\n\n"+
			"Starts NATS :%d (and :%d for the fixture record stream), S3 :%d, GCS :%d, Kafka :%d, Elasticsearch stand-in :%d, credential agent :%d\n"+
			"and a fresh PostgreSQL database, then prints the environment the services need.\n\n",
			stack.NATSPort, stack.FixtureNATSPort, stack.S3Port, stack.GCSPort, stack.KafkaPort, stack.ESPort, stack.AgentPort)
		flag.PrintDefaults()
	}
	flag.Parse()
	log, err := logging.New("info")
	if err != nil {
		return err
	}
	defer log.Sync()

	st, err := stack.Start(ctx, *stateDir, log)
	if err != nil {
		return err
	}
	defer st.Stop()
	st.Fixtures = *fixtures
	st.CutoverAfter = cutover
	if !*noSample {
		if err := st.Seed(ctx); err != nil {
			return fmt.Errorf("sample data: %w", err)
		}
	}
	fmt.Println(st.Describe())

	names := strings.Fields(*services)
	if len(names) == 0 {
		log.Info("dependencies up; Ctrl-C stops them")
		<-ctx.Done()
		return nil
	}
	return st.RunServices(ctx, *binDir, names)
}

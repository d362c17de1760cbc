package stack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// service is how the devstack runs one service binary. One binary may
// run as several services with different settings (bin names it; empty
// means name).
type service struct {
	name        string
	bin         string
	metricsAddr string
	env         func(st *Stack) []string
	// after names the service this one consumes from (a record-parser
	// its record-downloader): when both run, this one starts once that
	// one answers /healthz, so the stream it consumes exists.
	after string
	// prepare, when set, runs before the service starts, with the path
	// of its binary, and a failure keeps it from starting: the
	// registry-processor generates its source with it. What it starts
	// runs until ctx ends and is waited for with wg.
	prepare func(st *Stack, ctx context.Context, wg *sync.WaitGroup, out *sync.Mutex, bin string, svc service) error
}

func (s service) binary() string {
	if s.bin != "" {
		return s.bin
	}
	return s.name
}

// knownServices lists every service the devstack knows how to configure.
// A service not built yet is skipped with a note.
var knownServices = []service{
	{
		name:        "s3-loader",
		metricsAddr: "127.0.0.1:19101",
		env: func(st *Stack) []string {
			// The DMS settings the sample files were written with.
			return append([]string{
				"RUN_AS_SERVICE=true", "MIN_SLEEP=5", "MAX_SLEEP=10",
				"NATS=" + st.NATSURL(),
				"SOURCE=" + st.Bucket(DeliveryBucket, SampleDeliveryPath).Raw(),
				"TARGET=" + st.PGDSN,
				"SCHEMA_MAP=dbo=public",
				"EVENT_ID_COLUMN=event_id",
				"METRICS_ADDR=127.0.0.1:19101",
			}, SampleLoaderEnv...)
		},
	},
	{
		name:        "topic-archiver",
		metricsAddr: "127.0.0.1:19102",
		env: func(st *Stack) []string {
			return []string{
				"RUN_AS_SERVICE=true",
				"KAFKA_BROKERS=" + st.KafkaBrokers()[0],
				"KAFKA_GROUP=tributary-archiver",
				"VETO_TOPICS=" + SampleVetoedTopic,
				"S3=" + st.Bucket(ArchiveBucket, "archive").Raw(),
				"TARGET=" + st.PGDSN,
				"NATS=" + st.NATSURL(),
				"STORE_MODE=segment", "SEGMENT_SECONDS=5",
				"STREAM_MAX_BYTES=67108864", // the stack's streams keep 64 MiB
				"METRICS_ADDR=127.0.0.1:19102",
			}
		},
	},
	{
		// The live stream: the generated trickle, signed by
		// TrickleNodes nodes whose keys are in a generated address book.
		name:        "record-downloader",
		metricsAddr: "127.0.0.1:19103",
		env: func(st *Stack) []string {
			return append(recordDownloaderEnv(),
				"NATS="+st.NATSURL(),
				"NATS_STREAM="+LiveRecordStream,
				"BUCKET_PREFIX="+LiveRecordPrefix,
				// The parser's NETWORK too: the events' Nats-Msg-Id
				// starts with it.
				"NETWORK=live",
				"NODES="+trickleNodes(),
				"ADDRESS_BOOK="+st.GeneratedAddressBook(),
				"DEST_DIR="+st.LiveRecordDir(),
				"METRICS_ADDR=127.0.0.1:19103",
				// The trickle's block stream, from its GCS bucket and the
				// block-node stand-in: the downloader switches on its own
				// at the trickle's cutover, and takes each block from the
				// node once the bucket's copy confirms it. TSS is off on
				// this network.
				"BLOCK_BUCKETS=gs://"+BlockBucket,
				"BLOCK_NETWORK_FOLDER="+BlockNetworkFolder,
				fmt.Sprintf("BLOCK_NODES=127.0.0.1:%d", BlockNodePort),
				"BLOCK_TSS_PLACEHOLDER=true",
			)
		},
	},
	{
		// The same binary over the real node-signed fixture files of
		// FixtureDataset, with the address book that signs them: other
		// datasets under FixtureRecordPrefix are there to point it at by
		// hand (their books are named in the fixtures' README).
		name:        "record-downloader-fixtures",
		bin:         "record-downloader",
		metricsAddr: "127.0.0.1:19104",
		env: func(st *Stack) []string {
			return append(recordDownloaderEnv(),
				"NATS="+st.FixtureNATSURL(),
				"NATS_STREAM="+FixtureRecordStream,
				"BUCKET_PREFIX="+FixtureRecordPrefix+FixtureDataset+"/",
				"NETWORK=fixtures-"+FixtureDataset,
				"NODES=0.0.3,0.0.4,0.0.5,0.0.6",
				"ADDRESS_BOOK="+st.FixtureAddressBook(),
				"DEST_DIR="+st.FixtureRecordDir(),
				"METRICS_ADDR=127.0.0.1:19104",
			)
		},
	},
	{
		// Parses what record-downloader writes: the trickle's network.
		name:        "record-parser",
		metricsAddr: "127.0.0.1:19105",
		after:       "record-downloader",
		env: func(st *Stack) []string {
			return append(recordParserEnv(st),
				"RECORD_DIR="+st.LiveRecordDir(),
				"OUTPUT_DIR="+filepath.Join(st.ParsedDir(), "live"),
				"NATS="+st.NATSURL(),
				"NATS_STREAM="+LiveRecordStream,
				"NATS_CONSUMER=record-parser-live",
				"NETWORK=live",
				"METRICS_ADDR=127.0.0.1:19105",
			)
		},
	},
	{
		// Parses what record-downloader-fixtures writes: FixtureDataset,
		// files of mainnet's 2022, in their own daily indices.
		name:        "record-parser-fixtures",
		bin:         "record-parser",
		metricsAddr: "127.0.0.1:19106",
		after:       "record-downloader-fixtures",
		env: func(st *Stack) []string {
			return append(recordParserEnv(st),
				"RECORD_DIR="+st.FixtureRecordDir(),
				"OUTPUT_DIR="+filepath.Join(st.ParsedDir(), "fixtures-"+FixtureDataset),
				"NATS="+st.FixtureNATSURL(),
				"NATS_STREAM="+FixtureRecordStream,
				"NATS_CONSUMER=record-parser-fixtures",
				"NETWORK=fixtures-"+FixtureDataset,
				"METRICS_ADDR=127.0.0.1:19106",
			)
		},
	},
	{
		// BC Registries events to credentials: its COLIN source is
		// generated first, then trickles new events; credentials go to
		// the agent stub; /status on its metrics port.
		name:        "registry-processor",
		metricsAddr: registryMetricsAddr,
		env:         registryProcessorEnv,
		prepare:     (*Stack).prepareRegistrySource,
	},
}

// LiveRecordDir is the trickle downloader's DEST_DIR, its parser's
// RECORD_DIR.
func (st *Stack) LiveRecordDir() string { return filepath.Join(st.RecordsDir(), "live") }

// FixtureRecordDir is the fixture downloader's DEST_DIR, its parser's
// RECORD_DIR.
func (st *Stack) FixtureRecordDir() string {
	return filepath.Join(st.RecordsDir(), "fixtures-"+FixtureDataset)
}

// ParsedDir holds the record-parsers' OUTPUT_DIRs (NDJSON, dead
// letters, quarantine), one per network.
func (st *Stack) ParsedDir() string { return filepath.Join(st.dir, "parsed") }

// recordParserEnv is what both record-parsers share: the devstack's
// database (the chain state is keyed by NETWORK), Elasticsearch stand-in
// and the name of the parsed stream each creates on its own NATS.
func recordParserEnv(st *Stack) []string {
	return []string{
		"RUN_AS_SERVICE=true",
		"TARGET=" + st.PGDSN,
		"ELASTICSEARCH_URL=" + st.ESURL(),
		"NOTIFICATIONS=true",
		"PARSED_STREAM=" + ParsedStream,
		// A local stack's disk: 64 MiB of events, far more than a run makes
		// (a stream's MaxBytes is reserved against the server's storage).
		"PARSED_MAX_BYTES=67108864",
		"ON_CHAIN_BREAK=stop",
		"CONCURRENCY=2",
	}
}

// recordDownloaderEnv is what both record-downloaders share: the
// devstack's GCS bucket (BUCKET_ENDPOINT points gs:// at the emulator).
// Each has a NATS of its own (see FixtureNATSPort).
func recordDownloaderEnv() []string {
	return []string{
		"RUN_AS_SERVICE=true", "MIN_SLEEP=2", "MAX_SLEEP=4",
		"BUCKET=gs://" + RecordBucket,
		fmt.Sprintf("BUCKET_ENDPOINT=http://127.0.0.1:%d", GCSPort),
		"NOTIFICATIONS=true",
		"CONCURRENCY=8",
	}
}

// RunServices runs each named binary from binDir with its devstack
// environment, prefixing every output line with the service's name, and
// reports each one's /healthz. A service with after waits for that one
// to be healthy first, when it runs too. On ctx's end it sends SIGTERM,
// waits for them to finish their unit of work, and returns.
func (st *Stack) RunServices(ctx context.Context, binDir string, names []string) error {
	var run []service
	for _, name := range names {
		svcs := lookup(name)
		if len(svcs) == 0 {
			st.log.Warn("devstack does not know how to configure this service; skipped", zap.String("service", name))
		}
		run = append(run, svcs...)
	}
	return st.runServices(ctx, binDir, run)
}

// runServices is RunServices for services already looked up.
func (st *Stack) runServices(ctx context.Context, binDir string, run []service) error {
	var wg sync.WaitGroup
	var out sync.Mutex
	// healthy[name] is closed once that service answers /healthz.
	healthy := map[string]chan struct{}{}
	var ready []service
	for _, svc := range run {
		bin := filepath.Join(binDir, svc.binary())
		if _, err := os.Stat(bin); err != nil {
			st.log.Warn("service binary not built; skipped", zap.String("service", svc.name), zap.String("path", bin))
			continue
		}
		healthy[svc.name] = make(chan struct{})
		ready = append(ready, svc)
	}
	for _, svc := range ready {
		upstream, waits := healthy[svc.after]
		if svc.prepare != nil {
			// Preparing may take a while: the others start meanwhile.
			wg.Add(1)
			go func() {
				defer wg.Done()
				if waits {
					select {
					case <-upstream:
					case <-ctx.Done():
						return
					}
				}
				if err := svc.prepare(st, ctx, &wg, &out, filepath.Join(binDir, svc.binary()), svc); err != nil {
					if ctx.Err() == nil {
						st.log.Error("service not started: preparing it failed", zap.String("service", svc.name), zap.Error(err))
					}
					return
				}
				if err := st.startService(ctx, &wg, &out, binDir, svc, healthy[svc.name]); err != nil {
					st.log.Error("service did not start", zap.String("service", svc.name), zap.Error(err))
				}
			}()
			continue
		}
		if !waits {
			if err := st.startService(ctx, &wg, &out, binDir, svc, healthy[svc.name]); err != nil {
				return err
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-upstream:
			case <-ctx.Done():
				return
			case <-time.After(healthWait):
				st.log.Warn("starting without its upstream healthy", zap.String("service", svc.name), zap.String("upstream", svc.after))
			}
			if err := st.startService(ctx, &wg, &out, binDir, svc, healthy[svc.name]); err != nil {
				st.log.Error("service did not start", zap.String("service", svc.name), zap.Error(err))
			}
		}()
	}
	if len(ready) == 0 {
		st.log.Warn("no service binaries ran; dependencies stay up until Ctrl-C")
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// healthWait is how long the devstack waits for a service's /healthz.
const healthWait = 60 * time.Second

// startService starts svc's binary and, until ctx ends, watches it; on
// ctx's end it stops it with SIGTERM (a kill after 60 s). healthy is
// closed once the service answers /healthz.
func (st *Stack) startService(ctx context.Context, wg *sync.WaitGroup, out *sync.Mutex, binDir string, svc service, healthy chan struct{}) error {
	name := svc.name
	cmd := exec.Command(filepath.Join(binDir, svc.binary()))
	cmd.Env = append(os.Environ(), append(svc.env(st), "LOG_LEVEL=info")...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	prefix := fmt.Sprintf("[%-26s] ", name)
	for _, r := range []io.Reader{stdout, stderr} {
		go copyPrefixed(out, prefix, r)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			st.log.Error("service exited", zap.String("service", name), zap.Error(err))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
	}()
	go st.reportHealth(ctx, svc, healthy)
	return nil
}

// lookup is every service the binary name runs as.
func lookup(binary string) []service {
	var out []service
	for _, s := range knownServices {
		if s.binary() == binary {
			out = append(out, s)
		}
	}
	return out
}

func copyPrefixed(mu *sync.Mutex, prefix string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		mu.Lock()
		fmt.Fprintln(os.Stdout, prefix+sc.Text())
		mu.Unlock()
	}
}

// reportHealth polls /healthz until the service answers, then says so
// once with the URLs a newcomer can open and closes healthy.
func (st *Stack) reportHealth(ctx context.Context, svc service, healthy chan struct{}) {
	url := "http://" + svc.metricsAddr
	client := http.Client{Timeout: 3 * time.Second}
	for i := 0; i < int(healthWait/time.Second); i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			st.log.Info("service healthy", zap.String("service", svc.name), zap.String("healthz", url+"/healthz"), zap.String("metrics", url+"/metrics"))
			close(healthy)
			return
		}
	}
	st.log.Warn("service did not answer /healthz within 60s", zap.String("service", svc.name))
}

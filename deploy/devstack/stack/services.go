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
			return []string{
				"RUN_AS_SERVICE=true", "MIN_SLEEP=5", "MAX_SLEEP=10",
				"NATS=" + st.NATSURL(),
				"SOURCE=" + st.Bucket(DeliveryBucket, SampleDeliveryPath).Raw(),
				"TARGET=" + st.PGDSN,
				"SCHEMA_MAP=dbo=public",
				"EVENT_ID_COLUMN=event_id",
				"METRICS_ADDR=127.0.0.1:19101",
			}
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
			return append(recordDownloaderEnv(st),
				"BUCKET_PREFIX="+LiveRecordPrefix,
				"NODES="+trickleNodes(),
				"ADDRESS_BOOK="+st.GeneratedAddressBook(),
				"DEST_DIR="+filepath.Join(st.RecordsDir(), "live"),
				"METRICS_ADDR=127.0.0.1:19103",
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
			return append(recordDownloaderEnv(st),
				"BUCKET_PREFIX="+FixtureRecordPrefix+FixtureDataset+"/",
				"NODES=0.0.3,0.0.4,0.0.5,0.0.6",
				"ADDRESS_BOOK="+st.FixtureAddressBook(),
				"DEST_DIR="+filepath.Join(st.RecordsDir(), "fixtures-"+FixtureDataset),
				"METRICS_ADDR=127.0.0.1:19104",
			)
		},
	},
}

// recordDownloaderEnv is what both record-downloaders share: the
// devstack's GCS bucket (BUCKET_ENDPOINT points gs:// at the emulator)
// and NATS.
func recordDownloaderEnv(st *Stack) []string {
	return []string{
		"RUN_AS_SERVICE=true", "MIN_SLEEP=2", "MAX_SLEEP=4",
		"BUCKET=gs://" + RecordBucket,
		fmt.Sprintf("BUCKET_ENDPOINT=http://127.0.0.1:%d", GCSPort),
		"NATS=" + st.NATSURL(),
		"NOTIFICATIONS=true",
		"CONCURRENCY=8",
	}
}

// RunServices runs each named binary from binDir with its devstack
// environment, prefixing every output line with the service's name, and
// reports each one's /healthz. On ctx's end it sends SIGTERM, waits for
// them to finish their unit of work, and returns.
func (st *Stack) RunServices(ctx context.Context, binDir string, names []string) error {
	var wg sync.WaitGroup
	var out sync.Mutex
	started := 0
	var run []service
	for _, name := range names {
		svcs := lookup(name)
		if len(svcs) == 0 {
			st.log.Warn("devstack does not know how to configure this service; skipped", zap.String("service", name))
		}
		run = append(run, svcs...)
	}
	for _, svc := range run {
		name := svc.name
		bin := filepath.Join(binDir, svc.binary())
		if _, err := os.Stat(bin); err != nil {
			st.log.Warn("service binary not built; skipped", zap.String("service", name), zap.String("path", bin))
			continue
		}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), append(svc.env(st), "LOG_LEVEL=info")...)
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		started++
		prefix := fmt.Sprintf("[%-26s] ", name)
		for _, r := range []io.Reader{stdout, stderr} {
			go copyPrefixed(&out, prefix, r)
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
		go st.reportHealth(ctx, svc)
	}
	if started == 0 {
		st.log.Warn("no service binaries ran; dependencies stay up until Ctrl-C")
	}
	<-ctx.Done()
	wg.Wait()
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
// once with the URLs a newcomer can open.
func (st *Stack) reportHealth(ctx context.Context, svc service) {
	url := "http://" + svc.metricsAddr
	for i := 0; i < 60; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			st.log.Info("service healthy", zap.String("service", svc.name), zap.String("healthz", url+"/healthz"), zap.String("metrics", url+"/metrics"))
			return
		}
	}
	st.log.Warn("service did not answer /healthz within 60s", zap.String("service", svc.name))
}

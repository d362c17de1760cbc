package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

// BenchmarkStageAndPost is `make bench` for the registry-processor:
// 100,000 generated corporations (BENCH_CORPS to change it), staged by
// the real binary's initial-load through credential generation, then
// posted by `post` to the controller stub answering every request after
// 5 ms (32 requests in flight × 10 credentials). Targets: ≥ 5,000 corps/s
// staged, ≥ 10,000 credentials/s posted, memory flat (peak RSS printed).
// Each is also printed as a ratio to a baseline measured in the same run
// on the same machine: for staging, PostgreSQL copying the rows staging
// wrote (corp_history_log and credential_log) into empty tables of the
// same shape; for posting, the same number of requests of ten
// credentials sent straight to the stub, 32 at a time, with no database.
// The machine is shared: absolute figures are noisy, the ratios less so.
func BenchmarkStageAndPost(b *testing.B) {
	corps := 100_000
	if n, err := strconv.Atoi(os.Getenv("BENCH_CORPS")); err == nil && n > 0 {
		corps = n
	}
	// Without the race detector: the figures are the production build's.
	bin, cleanup, err := testkit.BuildBinary("registry-processor", false)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	source, target := testkit.Postgres(b), testkit.Postgres(b)
	agent := testkit.Agent(b, agentstub.Options{Latency: 5 * time.Millisecond})
	env := append(os.Environ(), "RUN_AS_SERVICE=false", "METRICS_ADDR=", "LOG_LEVEL=warn", "NOTIFICATIONS=false",
		"SOURCE_DB="+source, "TARGET="+target, "CONTROLLER_URL="+agent.URL)
	run := func(args ...string) testkit.Measurement {
		c := exec.Command(bin, args...)
		c.Env = env
		if args[0] != "testdata" {
			// The closing lines of processing and posting say where the
			// time went.
			c.Env = append(c.Env, "LOG_LEVEL=info")
		}
		c.Stderr = os.Stderr
		m, err := testkit.RunMeasured(c)
		if err != nil {
			b.Fatalf("registry-processor %v: %v", args, err)
		}
		return m
	}
	gen := run("testdata", "generate", "--corps", strconv.Itoa(corps), "--seed", "1")
	fmt.Fprintf(os.Stderr, "generated %d corps in %s\n", corps, gen.Wall.Round(time.Millisecond))
	b.ResetTimer()
	stage := run("initial-load")
	post := run("post")
	b.StopTimer()
	posted := len(agent.Credentials())
	stageRate := float64(corps) / stage.Wall.Seconds()
	postRate := float64(posted) / post.Wall.Seconds()

	copyDur := copyBaseline(b, target)
	rawPost := postBaseline(b, agent.URL, (posted+9)/10)
	rawPostRate := float64(posted) / rawPost.Seconds()
	fmt.Printf("registry-processor staging: %d corps (initial-load through credential generation) in %.2fs = %.0f corps/s (target ≥ 5,000), %.2fx the time PostgreSQL takes to copy the rows it wrote (%.2fs); peak RSS %d MB, CPU %.1fs\n",
		corps, stage.Wall.Seconds(), stageRate, stage.Wall.Seconds()/copyDur.Seconds(), copyDur.Seconds(), stage.PeakRSS>>20, stage.CPU.Seconds())
	fmt.Printf("registry-processor posting: %d credentials at 5 ms per request in %.2fs = %.0f credentials/s (target ≥ 10,000), %.2fx raw posting to the stub (%.0f credentials/s); peak RSS %d MB, CPU %.1fs\n",
		posted, post.Wall.Seconds(), postRate, postRate/rawPostRate, rawPostRate, post.PeakRSS>>20, post.CPU.Seconds())
	b.ReportMetric(stageRate, "corps/s")
	b.ReportMetric(postRate, "creds/s")
}

// copyBaseline times PostgreSQL copying what staging wrote into empty
// tables of the same shape, server side.
func copyBaseline(b *testing.B, target string) time.Duration {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, target)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE bench_chl (LIKE corp_history_log INCLUDING ALL); CREATE TABLE bench_cl (LIKE credential_log INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Exec(ctx, `INSERT INTO bench_chl SELECT * FROM corp_history_log; INSERT INTO bench_cl SELECT * FROM credential_log`); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// postBaseline sends n requests of ten credentials to the stub, 32 at a
// time, and times them.
func postBaseline(b *testing.B, url string, n int) time.Duration {
	var body strings.Builder
	body.WriteString("[")
	for i := range 10 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"schema":"registration.registries.ca","version":"1.0.42","attributes":{"registration_id":"BC%07d","effective_date":"2019-01-01T08:00:00+00:00","reason_description":"Filing:ANNBC"}}`, i)
	}
	body.WriteString("]")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	client := &http.Client{Transport: tr}
	work := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for range work {
				resp, err := client.Post(url+"/issue-credential", "application/json", bytes.NewReader([]byte(body.String())))
				if err != nil {
					b.Error(err)
					return
				}
				var buf bytes.Buffer
				_, _ = buf.ReadFrom(resp.Body)
				resp.Body.Close()
			}
		})
	}
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	return time.Since(start)
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

// BenchmarkStageAndPost is `make bench` for the registry-processor:
// 100,000 generated corporations (BENCH_CORPS to change it), staged by
// the real binary's initial-load through credential generation, then
// posted by `post` to the controller stub answering every request after
// 5 ms. Targets: ≥ 5,000 corps/s staged, ≥ 2,000 credentials/s posted,
// memory flat (peak RSS printed). The original took about 12 hours for
// 930,000 corps and posted ~2,600 credentials a minute at best.
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
	fmt.Printf("registry-processor: %d corps staged (initial-load through credential generation) in %.2fs = %.0f corps/s (target ≥ 5,000), peak RSS %d MB; %d credentials posted at 5 ms per request in %.2fs = %.0f credentials/s (target ≥ 2,000), peak RSS %d MB\n",
		corps, stage.Wall.Seconds(), stageRate, stage.PeakRSS>>20, posted, post.Wall.Seconds(), postRate, post.PeakRSS>>20)
	b.ReportMetric(stageRate, "corps/s")
	b.ReportMetric(postRate, "creds/s")
}

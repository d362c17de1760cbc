package monitoring

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"tributary.dev/libs/testkit"
)

// recordDownloaderMetrics are the record-downloader's metric names, fixed
// before the service was written so that its dashboard, alerts and code
// agree (without the tributary_record_downloader_ prefix).
var recordDownloaderMetrics = []string{
	"files_total", "bytes_total", "signature_failures_total", "consensus_failures_total",
	"quarantined_total", "node_last_consensus_timestamp_seconds",
	"last_verified_consensus_timestamp_seconds", "lag_seconds", "download_seconds",
	"errors_total", "announced_total",
	// The chain as the authority and the address book from the stream.
	"unchained_copies_total", "chain_wait_since_timestamp_seconds",
	"address_book_updates_total", "address_book_nodes",
	// Blocks, from the record-stream cutover on.
	"blocks_total", "block_bytes_total", "blocks_refused_total", "block_source_failures_total",
	"block_source_switches_total", "block_source_active", "last_block_number",
	"last_block_timestamp_seconds", "block_wait_since_timestamp_seconds", "block_chain_anchored",
	"cutover_block", "cutovers_total", "cutover_probes_total", "cutover_wait_since_timestamp_seconds",
	// The block node client.
	"block_node_blocks_total", "block_node_bytes_total", "block_node_failures_total",
	"block_node_benched_until_timestamp_seconds", "block_node_current", "block_node_gave_up_total",
}

// recordParserMetrics are the record-parser's metric names, fixed in its
// design before the service was written, so that its dashboard, alerts
// and code agree (without the tributary_record_parser_ prefix).
var recordParserMetrics = []string{
	"files_parsed_total", "transactions_total", "parse_seconds", "file_seconds",
	"bulk_item_errors_total", "bulk_retries_total", "deadletter_total", "chain_breaks_total",
	"stream_halted", "quarantined_total", "consensus_lag_seconds", "last_block_number",
	"last_consensus_end_seconds", "files_failed_total", "events_published_total",
	"publish_failures_total", "transaction_parse_errors_total",
	// Recovery and the parsed stream.
	"events_duplicate_total", "parsed_stream_bytes", "parsed_stream_limit_bytes",
	"heartbeats_total", "chain_waits_total", "reparsed_total",
	// Blocks.
	"blocks_out_of_order_total", "wrapped_sidecars_missing_total",
}

// registryProcessorMetrics are the registry-processor's metric names,
// fixed before the service was written so that its dashboard, alerts and
// code agree (without the tributary_registry_processor_ prefix). Labels:
// corps_processed_total{outcome} Y|N|S, credentials_generated_total{type}
// REG|ADDR|REL|BNC, posted_total{outcome} success|failed,
// post_requests_total{status}, stage_seconds{stage},
// outstanding{table} and errors{table} (event_by_corp_filing,
// corp_history_log, credential_log), runs_total{outcome} success|failed.
var registryProcessorMetrics = []string{
	"events_found_total", "corps_queued_total", "corps_processed_total",
	"credentials_generated_total", "credentials_duplicate_total", "posted_total",
	"post_requests_total", "post_retries_total", "post_unconfirmed_total", "post_seconds",
	"post_concurrency", "stage_seconds", "outstanding", "errors", "last_event_id",
	"controller_ready", "runs_total", "post_in_flight", "post_error_factor",
	// Never issued twice, bad source rows, paged runs.
	"post_held_total", "post_resent_total", "unconfirmed", "future_dated",
	"runs_paged_total", "source_rows_invalid_total",
}

// registryProcessorHistograms are the names of registryProcessorMetrics
// that are histograms.
var registryProcessorHistograms = map[string]bool{"post_seconds": true, "stage_seconds": true}

// recordParserHistograms are the names of recordParserMetrics that are
// histograms (their series carry _bucket, _sum and _count).
var recordParserHistograms = map[string]bool{"parse_seconds": true, "file_seconds": true}

// fixedMetrics is, per service whose dashboard was written against a
// list rather than its code, the names mapped to whether each is a
// histogram.
func fixedMetrics() map[string]map[string]bool {
	dl := map[string]bool{}
	for _, n := range recordDownloaderMetrics {
		dl[n] = n == "download_seconds"
	}
	rp := map[string]bool{}
	for _, n := range recordParserMetrics {
		rp[n] = recordParserHistograms[n]
	}
	reg := map[string]bool{}
	for _, n := range registryProcessorMetrics {
		reg[n] = registryProcessorHistograms[n]
	}
	return map[string]map[string]bool{"record-downloader": dl, "record-parser": rp, "registry-processor": reg}
}

func root(t *testing.T) string {
	t.Helper()
	r := testkit.RepoRoot()
	if r == "" {
		t.Fatal("no go.work above the working directory: run the test inside the repository")
	}
	return r
}

// goFiles parses the non-test Go files under dir.
func goFiles(t *testing.T, dir string) []*ast.File {
	t.Helper()
	var files []*ast.File
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// registered is the metric names (without prefix) a service's code
// registers through libs/metrics: the string literal first argument of
// each Counter, Gauge or Histogram call, mapped to whether it is a
// histogram.
func registered(files []*ast.File) map[string]bool {
	names := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Counter" && sel.Sel.Name != "Gauge" && sel.Sel.Name != "Histogram") {
				return true
			}
			if s, ok := stringLit(call.Args[0]); ok {
				names[s] = sel.Sel.Name == "Histogram"
			}
			return true
		})
	}
	return names
}

// libsMetrics is the names libs/metrics registers for every service (its
// heartbeat): Name fields of the options it builds.
func libsMetrics(files []*ast.File) map[string]bool {
	names := registered(files)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Name" {
				if s, ok := stringLit(kv.Value); ok {
					names[s] = false
				}
			}
			return true
		})
	}
	return names
}

// exported is every tributary_* metric the services export, by full name,
// mapped to whether it is a histogram.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	r := root(t)
	common := libsMetrics(goFiles(t, filepath.Join(r, "libs", "metrics")))
	// The heartbeat every service's metrics server exports.
	common["last_progress_timestamp_seconds"] = false
	all := map[string]bool{}
	add := func(service string, names map[string]bool) {
		sub := strings.ReplaceAll(service, "-", "_")
		for n, h := range names {
			all["tributary_"+sub+"_"+n] = h
		}
		for n, h := range common {
			all["tributary_"+sub+"_"+n] = h
		}
	}
	dirs, err := os.ReadDir(filepath.Join(r, "services"))
	if err != nil {
		t.Fatal(err)
	}
	fixed := fixedMetrics()
	for _, d := range dirs {
		if _, ok := fixed[d.Name()]; d.IsDir() && !ok {
			add(d.Name(), registered(goFiles(t, filepath.Join(r, "services", d.Name()))))
		}
	}
	for service, names := range fixed {
		add(service, names)
	}
	return all
}

var metricName = regexp.MustCompile(`\btributary_[a-z0-9_]+`)

// known says whether name is exported, allowing the series a histogram
// adds to its name.
func known(all map[string]bool, name string) bool {
	if _, ok := all[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && all[base] {
			return true
		}
	}
	return false
}

type query struct{ where, expr string }

type panel struct {
	ID      int     `json:"id"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root(t), "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards found (%v)", err)
	}
	var out []query
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Panels []panel }
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, pn := range ps {
				for _, tg := range pn.Targets {
					out = append(out, query{where: filepath.Base(p) + " panel " + strconv.Itoa(pn.ID) + " " + strconv.Quote(pn.Title), expr: tg.Expr})
				}
				walk(pn.Panels)
			}
		}
		walk(d.Panels)
	}
	return out
}

// ruleQueries reads every expr of the alert rules. The file is read line
// by line rather than with a YAML library (none is a dependency here):
// an expr is either on its line or a block scalar (| or >) whose lines
// are indented deeper than the key.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	p := filepath.Join(root(t), "deploy", "prometheus", "rules.yml")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []query
	var block *query
	blockIndent, alert, line := 0, "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line++
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		indent := len(text) - len(strings.TrimLeft(text, " "))
		if block != nil {
			if trimmed == "" || indent > blockIndent {
				block.expr += " " + trimmed
				continue
			}
			out = append(out, *block)
			block = nil
		}
		if a, ok := strings.CutPrefix(trimmed, "- alert:"); ok {
			alert = strings.TrimSpace(a)
		}
		e, ok := strings.CutPrefix(strings.TrimPrefix(trimmed, "- "), "expr:")
		if !ok {
			continue
		}
		e = strings.TrimSpace(e)
		where := "rules.yml line " + strconv.Itoa(line) + " " + alert
		if e == "|" || e == ">" || strings.HasPrefix(e, "|-") || strings.HasPrefix(e, ">-") {
			block, blockIndent = &query{where: where}, indent
			continue
		}
		out = append(out, query{where: where, expr: e})
	}
	if block != nil {
		out = append(out, *block)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every metric a dashboard query or an alert names is exported by a
// service, and every query names one (or asks whether targets are up).
func TestQueriesNameExportedMetrics(t *testing.T) {
	all := exported(t)
	queries := append(dashboardQueries(t), ruleQueries(t)...)
	if len(queries) < 20 {
		t.Fatalf("only %d queries found in the dashboards and rules: the reader misses some", len(queries))
	}
	used := map[string]bool{}
	for _, q := range queries {
		names := metricName.FindAllString(q.expr, -1)
		if len(names) == 0 && !strings.Contains(q.expr, "up{") {
			t.Errorf("%s: query %q names no tributary metric", q.where, q.expr)
		}
		for _, n := range names {
			used[n] = true
			if !known(all, n) {
				t.Errorf("%s: %s is not exported by any service (query %q)", q.where, n, q.expr)
			}
		}
	}
	// The record-downloader's, record-parser's and registry-processor's
	// dashboards and rules cover all they export.
	for service, names := range map[string][]string{"record-downloader": recordDownloaderMetrics, "record-parser": recordParserMetrics, "registry-processor": registryProcessorMetrics} {
		var unused []string
		for _, n := range append([]string{"last_progress_timestamp_seconds"}, names...) {
			full := "tributary_" + strings.ReplaceAll(service, "-", "_") + "_" + n
			if !used[full] && !used[full+"_bucket"] && !used[full+"_count"] {
				unused = append(unused, full)
			}
		}
		sort.Strings(unused)
		if len(unused) > 0 {
			t.Errorf("%s metrics no panel or rule shows: %v", service, unused)
		}
	}
}

// Once the record-downloader's code is in the tree, it must name every
// metric of the fixed list (the dashboard is written against the list).
func TestRecordDownloaderRegistersTheFixedNames(t *testing.T) {
	checkNamesInCode(t, "record-downloader", recordDownloaderMetrics)
}

// The same for the record-parser. Its binary's /metrics is checked
// against the list by TestRecordParserExportsTheFixedNames.
func TestRecordParserRegistersTheFixedNames(t *testing.T) {
	checkNamesInCode(t, "record-parser", recordParserMetrics)
}

// The same for the registry-processor. Its binary's /metrics is checked
// against the list by TestRegistryProcessorExportsTheFixedNames.
func TestRegistryProcessorRegistersTheFixedNames(t *testing.T) {
	checkNamesInCode(t, "registry-processor", registryProcessorMetrics)
}

// checkNamesInCode fails for each of names that the service's non-test
// code does not hold as a string literal. A service that registers no
// metrics yet is only logged: its dashboard stands on the list until then.
func checkNamesInCode(t *testing.T, service string, names []string) {
	t.Helper()
	dir := filepath.Join(root(t), "services", service)
	files := []*ast.File{}
	if _, err := os.Stat(dir); err == nil {
		files = goFiles(t, dir)
	}
	if len(registered(files)) == 0 {
		t.Logf("services/%s registers no metrics in this tree yet; only the fixed list is checked", service)
		return
	}
	lits := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if e, ok := n.(ast.Expr); ok {
				if s, ok := stringLit(e); ok {
					lits[s] = true
				}
			}
			return true
		})
	}
	for _, n := range names {
		if !lits[n] {
			t.Errorf("services/%s does not name metric %q, which the dashboard and alerts use", service, n)
		}
	}
}

// The reader of the checks must itself see wrong names: a dashboard
// query naming a metric nobody exports is caught.
func TestUnknownNameIsCaught(t *testing.T) {
	all := exported(t)
	for _, n := range []string{"tributary_record_downloader_lag_seconds", "tributary_s3_loader_delivery_duration_seconds_bucket", "tributary_topic_archiver_messages_total", "tributary_record_parser_parse_seconds_bucket", "tributary_record_parser_stream_halted", "tributary_registry_processor_post_seconds_bucket", "tributary_registry_processor_outstanding"} {
		if !known(all, n) {
			t.Errorf("%s should be known", n)
		}
	}
	for _, n := range []string{"tributary_record_downloader_lag", "tributary_s3_loader_nope_total", "tributary_record_downloader_files_total_bucket", "tributary_record_parser_lag_seconds", "tributary_record_parser_files_parsed_total_bucket", "tributary_registry_processor_outstanding_bucket", "tributary_registry_processor_outstanding_total"} {
		if known(all, n) {
			t.Errorf("%s should not be known", n)
		}
	}
}

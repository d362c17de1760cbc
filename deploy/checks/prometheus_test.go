package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := FindPromtool(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// promtool passes the rules (lint included) and the compose Prometheus'
// configuration with its rule file.
func TestPromtoolPassesRulesAndConfig(t *testing.T) {
	pt := promtool(t)
	if out, ok := Promtool(pt, "check", "rules", "--lint=all", "--lint-fatal", filepath.Join(repoRoot, "deploy/prometheus/rules.yml")); !ok {
		t.Errorf("promtool check rules:\n%s", out)
	}
	if out, ok := Promtool(pt, "check", "config", "--lint=all", "--lint-fatal", filepath.Join(repoRoot, "deploy/prometheus/prometheus.yml")); !ok {
		t.Errorf("promtool check config:\n%s", out)
	}
}

// Each planted mistake makes promtool fail.
func TestPromtoolCatchesPlantedMistakes(t *testing.T) {
	pt := promtool(t)
	rules := string(readRepoFile(t, "deploy/prometheus/rules.yml"))
	config := string(readRepoFile(t, "deploy/prometheus/prometheus.yml"))
	cases := []struct {
		name, file, old, new string
	}{
		{"bad PromQL", "rules.yml", `expr: up{job="s3-loader"} == 0`, `expr: up{job="s3-loader"} == == 0`},
		{"an unknown function", "rules.yml", "expr: absent(up{job=\"s3-loader\"})", "expr: absnet(up{job=\"s3-loader\"})"},
		{"a broken template", "rules.yml", `summary: "s3-loader {{ $labels.instance }} is not answering /metrics"`, `summary: "s3-loader {{ $labels.instance is not answering /metrics"`},
		{"a duplicate rule (lint)", "rules.yml", "  - name: topic-archiver\n    rules:\n", "  - name: topic-archiver\n    rules:\n      - alert: S3LoaderDown\n        expr: up{job=\"s3-loader\"} == 0 or up{app_kubernetes_io_name=\"s3-loader\"} == 0\n        for: 5m\n        labels:\n          severity: critical\n"},
		{"a bad duration in the config", "prometheus.yml", "scrape_interval: 15s", "scrape_interval: 15 seconds"},
		{"an unknown key in the config", "prometheus.yml", "  evaluation_interval: 15s\n", "  evaluation_interval: 15s\n  evaluation_intervall: 15s\n"},
		{"a rule file that is not there", "prometheus.yml", "  - rules.yml", "  - alerts.yml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r, cfg := rules, config
			target := &r
			if c.file == "prometheus.yml" {
				target = &cfg
			}
			if !strings.Contains(*target, c.old) {
				t.Fatalf("%s no longer holds %q: update the planted mistake", c.file, c.old)
			}
			*target = strings.Replace(*target, c.old, c.new, 1)
			for name, body := range map[string]string{"rules.yml": r, "prometheus.yml": cfg} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"check", "rules", "--lint=all", "--lint-fatal", filepath.Join(dir, "rules.yml")}
			if c.file == "prometheus.yml" {
				args = []string{"check", "config", "--lint=all", "--lint-fatal", filepath.Join(dir, "prometheus.yml")}
			}
			if out, ok := Promtool(pt, args...); ok {
				t.Fatalf("promtool passed with %s planted:\n%s", c.name, out)
			}
		})
	}
}

// The PrometheusRule of components/prometheus-operator is rules.yml.
func TestPrometheusRuleIsGeneratedFromRules(t *testing.T) {
	want := PrometheusRule(readRepoFile(t, "deploy/prometheus/rules.yml"))
	got := readRepoFile(t, "deploy/k8s/components/prometheus-operator/prometheusrule.yaml")
	if string(got) != string(want) {
		t.Fatal("deploy/k8s/components/prometheus-operator/prometheusrule.yaml is not what deploy/prometheus/rules.yml generates: run make deploy-generate")
	}
}

// Every alert links to a heading that exists.
func TestRunbookURLsPointAtHeadings(t *testing.T) {
	rules := readRepoFile(t, "deploy/prometheus/rules.yml")
	for _, err := range CheckRunbooks(repoRoot, rules) {
		t.Error(err)
	}
	planted := map[string]string{
		"S3LoaderDown: runbook_url https://tributary.dev/services/s3-loader/README.md#run-book: services/s3-loader/README.md has no heading with the anchor #run-book": strings.Replace(string(rules), "services/s3-loader/README.md#runbook", "services/s3-loader/README.md#run-book", 1),
		"S3LoaderDown: runbook_url https://tributary.dev/services/s3-loader/README.txt#runbook: open":                                                                  strings.Replace(string(rules), "services/s3-loader/README.md#runbook", "services/s3-loader/README.txt#runbook", 1),
		"alert S3LoaderDown has no runbook_url": strings.Replace(string(rules), "          runbook_url: https://tributary.dev/services/s3-loader/README.md#runbook\n", "", 1),
	}
	for want, body := range planted {
		errs := CheckRunbooks(repoRoot, []byte(body))
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e.Error(), want)
		}
		if !found {
			t.Errorf("planted mistake not caught: want %q, got %v", want, errs)
		}
	}
}

func TestHeadingAnchors(t *testing.T) {
	md := "# Title\n## Runbook\n### A key rotation\n```\n## not a heading\n```\n## Runbook\n#hashtag\n### `s3-loader reload` (after DMS)\n"
	got := HeadingAnchors([]byte(md))
	for _, a := range []string{"title", "runbook", "a-key-rotation", "runbook-1", "s3-loader-reload-after-dms"} {
		if !got[a] {
			t.Errorf("anchor %q missing from %v", a, got)
		}
	}
	for _, a := range []string{"not-a-heading", "hashtag"} {
		if got[a] {
			t.Errorf("%q is not a heading", a)
		}
	}
}

// What the rules must cover for each service, by what the expressions
// say: a Down alert, an absent() of its up series, its dependencies, a
// stalled loop; volume fill for the two claims.
func TestAlertsCoverEveryService(t *testing.T) {
	groups, errs := ParseRules(readRepoFile(t, "deploy/prometheus/rules.yml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var exprs []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				exprs = append(exprs, r.Expr)
			}
		}
	}
	has := func(parts ...string) bool {
		for _, e := range exprs {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(e, p)
			}
			if ok {
				return true
			}
		}
		return false
	}
	services, err := Services(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		metric := "tributary_" + strings.ReplaceAll(s, "-", "_")
		for what, parts := range map[string][]string{
			"down":        {`up{job="` + s + `"} == 0`, `up{app_kubernetes_io_name="` + s + `"} == 0`},
			"absent":      {`absent(up{job="` + s + `"})`, `absent(up{app_kubernetes_io_name="` + s + `"})`},
			"dependency":  {metric + "_dependency_up", "== 0"},
			"no progress": {"time() - max by", metric + "_last_progress_timestamp_seconds"},
		} {
			if !has(parts...) {
				t.Errorf("%s: no %s alert (an expression with %q)", s, what, parts)
			}
		}
	}
	for _, claim := range []string{"record-downloader-data", "record-parser-output"} {
		if !has(`kubelet_volume_stats_used_bytes{persistentvolumeclaim="`+claim+`"}`, `kubelet_volume_stats_capacity_bytes{persistentvolumeclaim="`+claim+`"}`) {
			t.Errorf("no volume fill alert for %s", claim)
		}
	}
}

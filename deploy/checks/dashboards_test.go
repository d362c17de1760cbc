package checks

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func dashboards(t *testing.T) map[string]Dashboard {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	out := map[string]Dashboard{}
	for _, p := range paths {
		rel, _ := filepath.Rel(repoRoot, p)
		var d Dashboard
		if err := json.Unmarshal(readRepoFile(t, rel), &d); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		out[filepath.Base(p)] = d
	}
	return out
}

// Every query of every dashboard parses as PromQL, and is filtered and
// summed by the namespace and job variables the dashboard has.
func TestDashboardQueries(t *testing.T) {
	n := 0
	for name, d := range dashboards(t) {
		if err := d.CheckVariables(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		err := d.Queries(func(where, expr string) (string, error) {
			n++
			if _, err := ParseDashboardQuery(expr); err != nil {
				t.Errorf("%s %s: %q does not parse: %v", name, where, expr, err)
			} else if err := CheckScoped(expr); err != nil {
				t.Errorf("%s %s: %q: %v", name, where, expr, err)
			}
			return expr, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 90 {
		t.Fatalf("only %d dashboard queries read: the reader misses some", n)
	}
}

// The checks fail planted mistakes: a query that does not parse, one
// that is not scoped, a dashboard without its variables.
func TestDashboardChecksCatchPlantedMistakes(t *testing.T) {
	good := `sum by (result, namespace, job) (rate(tributary_s3_loader_deliveries_total{job=~"$job",namespace=~"$namespace"}[$__rate_interval]))`
	if err := CheckScoped(good); err != nil {
		t.Fatalf("a scoped query fails: %v", err)
	}
	for _, q := range []string{
		`sum by (result (rate(tributary_s3_loader_deliveries_total[$__rate_interval]))`,
		`rate(tributary_s3_loader_deliveries_total[$__rate_interval)`,
		`sum by (result) rate(tributary_s3_loader_deliveries_total[5m])`,
		`histogram_quantile(0.9, sum by (le, namespace, job) (rate(tributary_x_bucket{job=~"$job",namespace=~"$namespace"}[$__rate_interval]))`,
	} {
		if _, err := ParseDashboardQuery(q); err == nil {
			t.Errorf("%q parses", q)
		}
	}
	for _, q := range []string{
		strings.Replace(good, `job=~"$job",`, "", 1),
		strings.Replace(good, `namespace=~"$namespace"`, `namespace="tributary"`, 1),
		strings.Replace(good, "by (result, namespace, job)", "by (result)", 1),
		strings.Replace(good, "by (result, namespace, job)", "", 1),
		`max(up{job="s3-loader",namespace=~"$namespace",job=~"$job"})`,
		`sum without (instance) (tributary_topic_archiver_lag{job=~"$job",namespace=~"$namespace"})`,
		`max by (namespace, job) (a{job=~"$job",namespace=~"$namespace"}) and on (job) max by (namespace, job) (b{job=~"$job",namespace=~"$namespace"})`,
	} {
		if err := CheckScoped(q); err == nil {
			t.Errorf("%q passes as scoped", q)
		}
	}
	for name, d := range dashboards(t) {
		tmpl := d["templating"].(map[string]any)
		list := tmpl["list"].([]any)
		var keep []any
		for _, v := range list {
			if v.(map[string]any)["name"] != "job" {
				keep = append(keep, v)
			}
		}
		tmpl["list"] = keep
		if err := d.CheckVariables(); err == nil || !strings.Contains(err.Error(), "no job variable") {
			t.Errorf("%s without its job variable: %v", name, err)
		}
	}
}

package checks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Every dashboard is scoped by two variables: the namespace (a Kubernetes
// namespace; none in compose) and the scrape job.
var scopeLabels = []string{"namespace", "job"}

// grafanaRanges are Grafana's range variables, stood in by durations no
// query uses so that the PromQL parser reads the query and they come
// back after printing.
var grafanaRanges = map[string]string{"$__rate_interval": "[7h7m7s]", "$__interval": "[6h6m6s]", "$__range": "[5h5m5s]"}

func toPromQL(q string) string {
	for v, d := range grafanaRanges {
		q = strings.ReplaceAll(q, "["+v+"]", d)
	}
	return q
}

func fromPromQL(q string) string {
	for v, d := range grafanaRanges {
		q = strings.ReplaceAll(q, d, "["+v+"]")
	}
	return q
}

// ParseDashboardQuery parses a dashboard query as Prometheus will once
// Grafana has put its variables in.
func ParseDashboardQuery(q string) (parser.Expr, error) {
	return PromQL.ParseExpr(toPromQL(q))
}

// ScopeQuery adds to a dashboard query what every query must have: each
// selector matches namespace=~"$namespace" and job=~"$job", each
// aggregation keeps namespace and job (sum by (…, namespace, job)), and
// each on(…) vector matching that names job names namespace too. A query
// that has them is returned as it was printed by the parser.
func ScopeQuery(q string) (string, error) {
	expr, err := ParseDashboardQuery(q)
	if err != nil {
		return "", err
	}
	var bad error
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			for _, l := range scopeLabels {
				if !hasScopeMatcher(n.LabelMatchers, l) {
					m, err := labels.NewMatcher(labels.MatchRegexp, l, "$"+l)
					if err != nil {
						bad = err
					}
					n.LabelMatchers = append(n.LabelMatchers, m)
				}
			}
		case *parser.AggregateExpr:
			if n.Without {
				bad = fmt.Errorf("%s: without (…) drops labels the dashboard cannot know; use by (…)", n)
				return nil
			}
			for _, l := range scopeLabels {
				if !slices.Contains(n.Grouping, l) {
					n.Grouping = append(n.Grouping, l)
				}
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil && vm.On && slices.Contains(vm.MatchingLabels, "job") && !slices.Contains(vm.MatchingLabels, "namespace") {
				vm.MatchingLabels = append(vm.MatchingLabels, "namespace")
			}
		}
		return nil
	})
	if bad != nil {
		return "", bad
	}
	return fromPromQL(expr.String()), nil
}

func hasScopeMatcher(ms []*labels.Matcher, name string) bool {
	for _, m := range ms {
		if m.Name == name && m.Type == labels.MatchRegexp && m.Value == "$"+name {
			return true
		}
	}
	return false
}

// CheckScoped fails a dashboard query that does not parse or is not
// scoped as ScopeQuery scopes it.
func CheckScoped(q string) error {
	scoped, err := ScopeQuery(q)
	if err != nil {
		return err
	}
	if scoped != fromPromQL(mustString(q)) {
		return fmt.Errorf("not filtered and summed by namespace and job: want %s", scoped)
	}
	return nil
}

func mustString(q string) string {
	e, err := ParseDashboardQuery(q)
	if err != nil {
		return q
	}
	return e.String()
}

// Dashboard is the part of a Grafana dashboard the checks read and the
// scoping rewrites; everything else is kept as it is.
type Dashboard map[string]any

// Queries calls fn on every query of every panel (rows included); fn may
// replace the query.
func (d Dashboard) Queries(fn func(where, expr string) (string, error)) error {
	var walk func(panels []any) error
	walk = func(panels []any) error {
		for _, p := range panels {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			targets, _ := pm["targets"].([]any)
			for _, t := range targets {
				tm, ok := t.(map[string]any)
				if !ok {
					continue
				}
				expr, ok := tm["expr"].(string)
				if !ok {
					continue
				}
				where := fmt.Sprintf("panel %v %q", pm["id"], pm["title"])
				out, err := fn(where, expr)
				if err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
				tm["expr"] = out
			}
			if sub, ok := pm["panels"].([]any); ok {
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	panels, _ := d["panels"].([]any)
	return walk(panels)
}

// CheckVariables fails a dashboard without the namespace and job
// variables (multi-value, with All as .*, so compose's series without a
// namespace match).
func (d Dashboard) CheckVariables() error {
	tmpl, _ := d["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	found := map[string]bool{}
	for _, v := range list {
		vm, _ := v.(map[string]any)
		name, _ := vm["name"].(string)
		if slices.Contains(scopeLabels, name) && vm["type"] == "query" && vm["includeAll"] == true && vm["allValue"] == ".*" {
			found[name] = true
		}
	}
	for _, l := range scopeLabels {
		if !found[l] {
			return fmt.Errorf("no %s variable (type query, include All as .*)", l)
		}
	}
	return nil
}

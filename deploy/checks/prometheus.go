package checks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// PrometheusRule is the Prometheus Operator's PrometheusRule holding the
// rule file rules (deploy/prometheus/rules.yml): its groups, comments
// and all, indented under spec. The file's leading comment is replaced
// by one that says where the resource comes from.
func PrometheusRule(rules []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`# Generated from deploy/prometheus/rules.yml by make deploy-generate;
# do not edit (deploy/checks fails while the two differ).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: tributary
  labels:
    app.kubernetes.io/part-of: tributary
spec:
`)
	sc := bufio.NewScanner(bytes.NewReader(rules))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	header := true
	for sc.Scan() {
		line := sc.Text()
		if header && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "") {
			continue
		}
		header = false
		if strings.TrimSpace(line) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("  " + line + "\n")
	}
	return b.Bytes()
}

// ParseRules reads a rule file as Prometheus does.
func ParseRules(rules []byte) (*rulefmt.RuleGroups, []error) {
	return rulefmt.Parse(rules, false, model.UTF8Validation, PromQL, slog.New(slog.DiscardHandler))
}

// PromQL is the parser Prometheus uses, with its default options.
var PromQL = parser.NewParser(parser.Options{})

// FindPromtool is promtool from the Makefile's tools (.cache/bin) or
// PATH; the error says how to install it.
func FindPromtool(root string) (string, error) {
	local := filepath.Join(root, ".cache", "bin", "promtool")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p, nil
	}
	return "", errors.New("promtool not found in .cache/bin or PATH: run make tools-test (it go-installs the pinned promtool)")
}

// Promtool runs promtool with args and returns its output and whether it
// passed.
func Promtool(promtool string, args ...string) (string, bool) {
	out, err := exec.Command(promtool, args...).CombinedOutput()
	return string(out), err == nil
}

// RunbookBase is where the repository is published: a runbook_url is
// RunbookBase + a file's path in the repository + "#" + a heading's
// anchor.
const RunbookBase = "https://tributary.dev/"

// CheckRunbooks fails every alert of rules without a runbook_url, or
// whose runbook_url is not a heading of a file in the repository.
func CheckRunbooks(root string, rules []byte) []error {
	groups, errs := ParseRules(rules)
	if len(errs) > 0 {
		return errs
	}
	var out []error
	anchors := map[string]map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			link := r.Annotations["runbook_url"]
			if link == "" {
				out = append(out, fmt.Errorf("alert %s has no runbook_url", r.Alert))
				continue
			}
			u, err := url.Parse(link)
			if err != nil || !strings.HasPrefix(link, RunbookBase) || u.Fragment == "" {
				out = append(out, fmt.Errorf("alert %s: runbook_url %q is not %s<file>#<heading>", r.Alert, link, RunbookBase))
				continue
			}
			file := strings.TrimPrefix(u.Path, "/")
			if anchors[file] == nil {
				md, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
				if err != nil {
					out = append(out, fmt.Errorf("alert %s: runbook_url %s: %v", r.Alert, link, err))
					continue
				}
				anchors[file] = HeadingAnchors(md)
			}
			if !anchors[file][u.Fragment] {
				out = append(out, fmt.Errorf("alert %s: runbook_url %s: %s has no heading with the anchor #%s", r.Alert, link, file, u.Fragment))
			}
		}
	}
	return out
}

var notAnchor = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)

// HeadingAnchors are the anchors GitHub gives a Markdown file's headings:
// lower case, punctuation dropped, spaces as hyphens, a repeated one
// numbered (-1, -2, …). Fenced code is not searched for headings.
func HeadingAnchors(md []byte) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		if text == "" || !strings.HasPrefix(line, strings.Repeat("#", len(line)-len(strings.TrimLeft(line, "#")))+" ") {
			continue
		}
		a := strings.ReplaceAll(notAnchor.ReplaceAllString(strings.ToLower(text), ""), " ", "-")
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// Command prometheusrule writes the Prometheus Operator's PrometheusRule
// for deploy/k8s/components/prometheus-operator from the rule file
// Prometheus itself reads: `prometheusrule RULES.yml > prometheusrule.yaml`
// (make deploy-generate).
package main

import (
	"fmt"
	"os"

	"tributary.dev/deploy/checks"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "--help" || os.Args[1] == "-h" {
		fmt.Fprintln(os.Stderr, "usage: prometheusrule deploy/prometheus/rules.yml > deploy/k8s/components/prometheus-operator/prometheusrule.yaml")
		os.Exit(2)
	}
	rules, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "prometheusrule:", err)
		os.Exit(1)
	}
	os.Stdout.Write(checks.PrometheusRule(rules))
}

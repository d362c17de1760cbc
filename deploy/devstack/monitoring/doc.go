// Package monitoring holds the checks that keep deploy/grafana and
// deploy/prometheus honest: every metric a dashboard query or an alert
// rule names is one a service exports.
package monitoring

// Package checks holds the tests that hold the deploy files to what the
// tools that read them accept: docker-compose.yml through compose-go (the
// loader of `docker compose config`), the Kubernetes base and overlays
// through kustomize's Go API, strict decoding into the k8s.io/api types
// and the Pod Security "restricted" profile, the Prometheus rules and
// configuration through promtool, and every dashboard query through the
// PromQL parser. Each check has a test that plants a mistake and sees it
// fail.
//
// It is a module of its own, outside go.work, so that the Kubernetes,
// Prometheus and Compose libraries it needs do not move the versions the
// services are built with: `make test` runs it with GOWORK=off.
package checks

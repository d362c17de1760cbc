# Tributary — build, test, run, bench, lint, proto.
# Everything a target needs is installed by the Makefile itself: Go tools
# with `go install` into .cache/bin, Debian packages with apt-get when root.

SHELL        := /bin/bash
GO           ?= go
CACHE        := $(CURDIR)/.cache
TOOLS        := $(CACHE)/bin
export PATH  := $(TOOLS):$(PATH)
export GOFLAGS ?= -buildvcs=false

MODULES      := libs deploy/devstack $(wildcard services/*)
PKGS         := $(MODULES:%=./%/...)
SERVICES     := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/cmd/*/main.go))))
SERVICE_CMDS := $(foreach s,$(wildcard services/*/cmd/*/main.go),./$(dir $(s)))

VERSITYGW_VERSION   := v1.8.0
STATICCHECK_VERSION := v0.8.2
PROTOC_GEN_GO_VER   := v1.36.12
PROTOC_GEN_GRPC_VER := v1.6.2
TEST_TIMEOUT        ?= 30m

.PHONY: all build test run bench lint proto tools tools-test apt-tools clean help

all: build

help:
	@echo "make run    the whole system on local stand-ins, with sample data (Ctrl-C stops it)"
	@echo "make test   every test, race detector on, against real servers"
	@echo "make build  binaries into bin/"
	@echo "make bench  service benchmarks, printed as ratios to a raw baseline"
	@echo "make lint   gofmt, go vet, staticcheck"
	@echo "make proto  regenerate committed protobuf code"

## tools ---------------------------------------------------------------

$(TOOLS)/versitygw:
	@mkdir -p $(TOOLS)
	@echo ">> installing versitygw $(VERSITYGW_VERSION) (the S3 server tests and make run use)"
	GOBIN=$(TOOLS) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

$(TOOLS)/staticcheck:
	@mkdir -p $(TOOLS)
	-GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/protoc-gen-go:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VER)

$(TOOLS)/protoc-gen-go-grpc:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VER)

# kcat drives Kafka from outside our code in one test; protoc regenerates
# the record-stream code; headless chromium renders the registry
# processor's status page in its test. Installed from Debian when we are root and they
# are missing; otherwise the test that needs one says how to get it.
apt-tools:
	@missing=""; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	command -v protoc >/dev/null || missing="$$missing protobuf-compiler"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo ">> not root: install$$missing yourself (apt-get install$$missing)"; fi; \
	fi

tools-test: $(TOOLS)/versitygw apt-tools
	@./.ci/postgres-up

tools: tools-test $(TOOLS)/staticcheck $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc

## build, test ----------------------------------------------------------

build:
	@mkdir -p bin
	$(GO) build -o bin/ $(SERVICE_CMDS) ./deploy/devstack/cmd/devstack

test: tools-test
	@./.ci/check-tree
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## run -------------------------------------------------------------------

# The devstack starts NATS, S3, GCS, Kafka, the Elasticsearch stand-in and
# the credential-agent stub on fixed ports, loads sample data, and runs
# every service binary in bin/ with its output prefixed by its name.
run: tools-test build
	./bin/devstack -services "$(SERVICES)" -bin ./bin

## bench -----------------------------------------------------------------

# Not part of `make test`: each service prints its figures as ratios to a
# baseline measured in the same run.
bench: tools-test
	@for s in $(SERVICES); do \
	  if grep -rqs --include='*_test.go' '^func Benchmark' services/$$s; then \
	    echo "== $$s"; \
	    (cd services/$$s && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...) | grep -v '^ok\|^PASS\|no test files' || exit 1; \
	  fi; \
	done
	@echo "== libs/blockstream"
	@(cd libs && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./blockstream/...) | grep -v '^ok\|^PASS\|no test files'

## lint, proto ----------------------------------------------------------

lint: $(TOOLS)/staticcheck
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if [ -x $(TOOLS)/staticcheck ]; then $(TOOLS)/staticcheck $(PKGS); else echo "staticcheck did not install; skipped"; fi

# proto/hedera/*.proto (our subset of the public hedera-protobufs) becomes
# libs/hederapb, and the block node API (its own proto package, with gRPC
# services) libs/hederapb/blocknodepb; the old generated files go first so
# that a message removed from the .proto files does not live on in Go.
proto: apt-tools $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	rm -f libs/hederapb/*.pb.go libs/hederapb/blocknodepb/*.pb.go
	protoc --plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go \
	  --plugin=protoc-gen-go-grpc=$(TOOLS)/protoc-gen-go-grpc -I proto/hedera \
	  --go_out=. --go_opt=module=tributary.dev \
	  --go-grpc_out=. --go-grpc_opt=module=tributary.dev proto/hedera/*.proto

clean:
	rm -rf bin

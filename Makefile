# sophsapp — common tasks. `make run` and `make test` are the two commands a
# new checkout needs: each first installs what the machine lacks
# (scripts/deps). `make help` lists the targets; see README.md.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/sophsapp/sophsapp/internal/app.version=$(VERSION)

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: run test deps fuzz generate check-generated build vet bench load bench-load install help

## run: serve the API on 127.0.0.1:5000 (local PostgreSQL in .devdb/ when DATABASE_URL is unset), installing PostgreSQL first if missing
run:
	@scripts/deps run
	./scripts/run-dev

# Hard bound on `make test`: when it is hit, internal/bounded prints what
# the run was waiting for and kills everything the run started.
TEST_TIMEOUT ?= 25m

## test: install what the tests need if missing, then the whole suite and a fuzz run of 10,000 inputs (at most TEST_TIMEOUT, default 25m)
test:
	@scripts/deps test
	go run ./internal/bounded -timeout $(TEST_TIMEOUT) -- scripts/test

## deps: only install what make test needs (system packages with apt-get as root, npm ci)
deps:
	scripts/deps test

FUZZTIME ?= 10m

## fuzz: a longer fuzz run of the HTTP API (FUZZTIME, default 10m)
fuzz:
	go test -run '^$$' -fuzz '^FuzzAPI$$' -fuzztime $(FUZZTIME) ./internal/httpapi/

# What go generate writes: the Go server and client, the queries, the
# TypeScript client's types and the API reference's vendored renderer.
GENERATED := gen clients/typescript/src/schema.ts internal/apidocs/assets/swagger-ui

## generate: regenerate gen/, the TypeScript client's types and the reference's assets from api/openapi.yaml, schema/ and queries/
generate:
	go generate ./...

## check-generated: fail when generated code does not match the spec and the SQL
check-generated:
	go generate ./...
	@git diff --exit-code --stat -- $(GENERATED) || { echo "generated files are stale: run 'go generate ./...' and commit the result" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- $(GENERATED))" || { git status --porcelain -- $(GENERATED); echo "generated files are untracked: commit them" >&2; exit 1; }

## build: the sophsapp binary in bin/
build:
	go build -ldflags "$(LDFLAGS)" -o bin/sophsapp ./cmd/sophsapp

## vet: go vet ./...
vet:
	go vet ./...

## load: wrk against a running server (BASE_URL, default http://127.0.0.1:5000)
load:
	./scripts/load

BENCH_LOAD_ARGS ?=

## bench-load: seed 200 and 100,000 articles on a throwaway PostgreSQL and measure the built binary with wrk (see scripts/bench-load; BENCH_LOAD_ARGS="-targets sophsapp,ceiling -ceiling ../shared/ceiling")
bench-load:
	go run ./scripts/bench-load $(BENCH_LOAD_ARGS)

## bench: Go benchmarks (figures only, never pass/fail on timing)
bench:
	go test -run '^$$' -bench . -benchtime 2s ./...

## install: build, then install or upgrade on this host as root (DOMAIN=api.example.com on the first install); see README.md, Operations runbook
install: build
	deploy/install.sh --binary bin/sophsapp $(if $(DOMAIN),--domain $(DOMAIN))

## help: list these targets
help:
	@awk '/^## [a-z-]+: / { line = substr($$0, 4); name = substr(line, 1, index(line, ":") - 1); printf "  make %-16s %s\n", name, substr(line, length(name) + 3) }' $(firstword $(MAKEFILE_LIST))

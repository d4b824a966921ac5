# The front door. `make run` and `make test` work on a fresh machine: they install and start
# PostgreSQL and RabbitMQ when needed (scripts/services.sh).

SHELL := /bin/bash
CARGO ?= cargo
DEV_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tenant_catalog_sqlx
export SQLX_OFFLINE := true

.PHONY: run test lint bench bench-ingest bench-lookup bench-timers bench-drain bench-history bench-live bench-compare chaos restore-drill schema openapi services sqlx-prepare clean-test-leftovers

## run: start PostgreSQL and RabbitMQ if needed, migrate the database, serve on HTTP_ADDR
run: services
	$(CARGO) build --release --locked
	./target/release/tenant-catalog migrate
	./target/release/tenant-catalog serve

## test: unit, property and integration tests against the real PostgreSQL and RabbitMQ
test: services clean-test-leftovers
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked --no-fail-fast; \
	else \
		$(CARGO) test --locked --no-fail-fast; \
	fi

## lint: formatting, clippy with warnings as errors, and the sqlx offline data being current
lint: services
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	DATABASE_URL=$(DEV_DATABASE_URL) ./target/debug/tenant-catalog migrate >/dev/null 2>&1 || \
		(DATABASE_URL=$(DEV_DATABASE_URL) $(CARGO) run -q -- migrate)
	DATABASE_URL=$(DEV_DATABASE_URL) SQLX_OFFLINE=false $(CARGO) sqlx prepare --check -- --all-targets
	$(CARGO) run -q -- export-schema | diff -u graphql/schema.graphql - \
		|| (echo "graphql/schema.graphql is stale: run 'make schema'" && exit 1)
	$(CARGO) run -q -- export-schema --replica | diff -u graphql/replica.graphql - \
		|| (echo "graphql/replica.graphql is stale: run 'make schema'" && exit 1)
	$(CARGO) run -q -- export-openapi | diff -u docs/admin-openapi.json - \
		|| (echo "docs/admin-openapi.json is stale: run 'make openapi'" && exit 1)

## bench: the benchmarks below, on a release build (about 6 minutes); figures in docs/benchmarks.md
bench: bench-ingest bench-lookup bench-timers bench-drain bench-history bench-live

## bench-ingest: events/s of one serve end to end on a catalog of PRELOAD tenants, and the direct-SQL reference
bench-ingest: services
	$(CARGO) build --release --locked
	PRELOAD=$(or $(PRELOAD),1000000) ./scripts/ingest-rate.sh $(or $(EVENTS),50000)

## bench-timers: TIMERS (100000) timers due at once, fired by one serve
bench-timers: services
	$(CARGO) build --release --locked
	./scripts/timers-bench.sh

## bench-lookup: GraphQL route lookups on 1,000,000 tenants under wrk, next to pgbench -S
bench-lookup: services
	$(CARGO) build --release --locked
	./scripts/lookup-bench.sh

## bench-compare: route from serve and the replica next to PostGraphile 4's tenantById (installed with npm if missing), on 1,000,000 tenants
bench-compare: services
	$(CARGO) build --release --locked
	./scripts/compare-postgraphile.sh

## bench-history: lookups of the past (asOf) of one tenant with 1,000 events
bench-history: services
	$(CARGO) build --release --locked
	./scripts/history-bench.sh

## bench-live: GraphQL subscriptions, from each change's commit to its delivery
bench-live: services
	$(CARGO) build --release --locked
	./scripts/live-bench.sh

## bench-drain: a drain of 10,000 tenants moved by a stand-in data plane, with route lookups beside it
bench-drain: services
	$(CARGO) build --release --locked
	./scripts/drain-bench.sh

## chaos: fault scenarios (kill -9, broker and database restarts, poison, three serves); run alone
chaos: services
	$(CARGO) build --release --locked
	./scripts/chaos.sh

## restore-drill: back up a filled catalog, destroy it, restore it, verify it (docs/operations.md)
restore-drill: services
	$(CARGO) build --release --locked
	./scripts/restore-drill.sh

## schema: regenerate graphql/schema.graphql and graphql/replica.graphql from the code
schema:
	$(CARGO) run -q -- export-schema > graphql/schema.graphql
	$(CARGO) run -q -- export-schema --replica > graphql/replica.graphql

## openapi: regenerate docs/admin-openapi.json from the code
openapi:
	$(CARGO) run -q -- export-openapi > docs/admin-openapi.json

## sqlx-prepare: refresh .sqlx/ after changing a query (needs `cargo install sqlx-cli`)
sqlx-prepare: services
	DATABASE_URL=$(DEV_DATABASE_URL) $(CARGO) run -q -- migrate
	DATABASE_URL=$(DEV_DATABASE_URL) SQLX_OFFLINE=false $(CARGO) sqlx prepare -- --all-targets

services:
	@./scripts/services.sh

# Databases and vhosts of test runs that were killed before they could clean up.
clean-test-leftovers:
	@./scripts/clean-test-leftovers.sh

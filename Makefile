# ECAP developer entry points. `make demo` runs the platform, `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.9
# uv is installed with pip into a project-local tool venv, so a fresh machine needs only python3.
UV := .cache/tools/bin/uv
PY := .venv/bin/python
BUF := .venv/bin/buf
PROTO_SRC := $(wildcard protos/ecap/v1/*.proto)
DESCRIPTOR_SET := protos/ecap/v1/ecap.binpb
# Go builds the REST gateway; a machine without it on PATH may have it in /usr/local/go.
GO := $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
GO_TOOLS := .cache/gotools
GATEWAY_BIN := gateway/bin/ecap-gateway
SWAGGER_UI_VERSION := 5.35.0

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .cache/tools
	.cache/tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# requirements.lock pins every package with its hashes (exported from uv's resolution by
# `make lock`); it records no download addresses, unlike uv.lock, which stays local.
.venv/.synced: pyproject.toml requirements.lock | $(UV)
	test -x .venv/bin/python || $(UV) venv --quiet --python 3.11 .venv
	$(UV) pip sync --quiet --python .venv/bin/python --require-hashes requirements.lock
	$(UV) pip install --quiet --python .venv/bin/python --no-deps -e .
	@touch $@

.PHONY: lock
lock: | $(UV) ## re-resolve pyproject.toml's dependencies into requirements.lock
	$(UV) lock
	$(UV) export --frozen --quiet --format requirements-txt --no-emit-project --all-groups \
	  --no-header -o requirements.lock

.PHONY: setup
setup: .venv/.synced ## install the locked Python environment (uv)

# The protoc plugins for Go, grpc-gateway and OpenAPI, at the versions gateway/go.mod pins
# with tool directives.
$(GO_TOOLS)/.installed: gateway/go.mod gateway/go.sum
	cd gateway && GOBIN=$(CURDIR)/$(GO_TOOLS) $(GO) install tool
	@touch $@

.PHONY: gateway-tools
gateway-tools: $(GO_TOOLS)/.installed ## install the gateway's protoc plugins (go install tool)

.PHONY: gen
gen: setup gateway-tools ## regenerate the Python and Go stubs, the descriptor set and the OpenAPI document
	$(PY) -m grpc_tools.protoc -Iprotos/vendor \
	  --python_out=protos/vendor --pyi_out=protos/vendor \
	  protos/vendor/buf/validate/validate.proto
	$(PY) -m grpc_tools.protoc -Iprotos -Iprotos/vendor \
	  --python_out=protos --pyi_out=protos --grpc_python_out=protos \
	  $(PROTO_SRC)
	$(BUF) build --as-file-descriptor-set -o $(DESCRIPTOR_SET)
	rm -rf gateway/gen gateway/openapi
	$(BUF) generate --template gateway/buf.gen.go.yaml \
	  --path protos/ecap/v1 --path protos/vendor/buf/validate
	$(BUF) generate --template gateway/buf.gen.openapi.yaml --path protos/ecap/v1

.PHONY: gateway
gateway: ## build the REST gateway binary (gateway/bin/ecap-gateway)
	cd gateway && $(GO) build -o bin/ecap-gateway ./cmd/ecap-gateway

.PHONY: swagger-ui
swagger-ui: ## refresh the vendored Swagger UI assets from npm (SWAGGER_UI_VERSION)
	rm -rf .cache/swagger-ui && mkdir -p .cache/swagger-ui
	cd .cache/swagger-ui && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) \
	  && tar xzf swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz
	cd .cache/swagger-ui/package && cp LICENSE NOTICE index.css swagger-ui.css \
	  swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui-standalone-preset.js \
	  swagger-ui-standalone-preset.js.LICENSE.txt favicon-16x16.png favicon-32x32.png \
	  $(CURDIR)/gateway/docs/swagger-ui/
	echo "swagger-ui-dist $(SWAGGER_UI_VERSION) (npm), refreshed with: make swagger-ui" \
	  > gateway/docs/swagger-ui/VERSION

.PHONY: check-gen
check-gen: setup ## fail when committed generated code is stale
	@$(MAKE) --no-print-directory gen >/dev/null
	@if [ -n "$$(git status --porcelain -- protos gateway/gen gateway/openapi)" ]; then \
	  echo "generated code is stale: run 'make gen' and commit the result" >&2; \
	  git status --porcelain -- protos gateway/gen gateway/openapi >&2; exit 1; \
	else echo "generated code is current"; fi

.PHONY: infra
infra: setup ## fetch the Kafka broker and Spark jars into .cache/ (nothing else)
	$(PY) -m services.stack.kafka fetch-jars
	$(PY) -m spark.jars

.PHONY: lint
lint: setup ## buf lint on our protos, ruff on the Python, go vet on the gateway
	$(BUF) lint
	cd gateway && $(GO) vet ./...
	@unformatted="$$($(dir $(GO))gofmt -l gateway)"; if [ -n "$$unformatted" ]; then \
	  echo "Go files not gofmt-ed: $$unformatted" >&2; exit 1; fi
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

.PHONY: fmt
fmt: setup ## format the Python
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

.PHONY: test
test: setup check-gen lint gateway ## everything CI runs: generated code, lint, unit and integration tests
	cd gateway && $(GO) test ./...
	.venv/bin/pytest tests/unit tests/integration

.PHONY: unit
unit: setup ## the unit tests alone
	.venv/bin/pytest tests/unit

.PHONY: bench
bench: setup ## benchmarks, each printed with its same-run baseline
	.venv/bin/pytest tests/bench -s -p no:cacheprovider

.PHONY: demo
demo: setup ## the platform: start the stack, send live shop traffic until Ctrl-C, stop it all
	.venv/bin/ecap demo

.PHONY: down
down: setup ## stop the local stack
	.venv/bin/ecap down

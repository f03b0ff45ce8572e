# mlops-platform: every target installs what it needs; run from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
STAMP := $(VENV)/.installed
LOOP_VENV := build/loop-venv
LOOP_PY := $(LOOP_VENV)/bin/python
LOOP_STAMP := $(LOOP_VENV)/.installed
TRITON_VENV := build/triton-venv
TRITON_STAMP := $(TRITON_VENV)/.installed
POLICY_VENV := policies/.venv
POLICY_STAMP := $(POLICY_VENV)/.installed

.PHONY: dist loop-env triton-env policy-env synth synth-all test lint typecheck docs bench clean system-tools diff promote rollback go engine preview up destroy cluster cluster-up cluster-down

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is required (Python 3.11)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

# The policy pack's own environment (policies/PulumiPolicy.yaml): pulumi-policy and this repository's package, whose
# price catalog the cost policies import. pip runs in policies/, where `-e ..` in its requirements is this repository.
$(POLICY_STAMP): policies/requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is required (Python 3.11)"; exit 1; }
	@test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	cd policies && .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c ../constraints.txt
	@touch $(POLICY_STAMP)

## policy-env: the virtualenv Pulumi runs the policy pack with (policies/.venv)
policy-env: $(POLICY_STAMP)

# The loop image's own environment (loop/): Evidently 0.7 needs pandas < 3, the program's has pandas 3.
$(LOOP_STAMP): loop/requirements.txt loop/requirements-test.txt loop/constraints.txt
	@test -x $(LOOP_PY) || $(PYTHON) -m venv $(LOOP_VENV)
	$(LOOP_PY) -m pip install --quiet --disable-pip-version-check -r loop/requirements-test.txt -c loop/constraints.txt
	@touch $(LOOP_STAMP)

## loop-env: the virtualenv of the monitoring loop's image (build/loop-venv)
loop-env: $(LOOP_STAMP)

# Real Triton for the end-to-end tests: nvidia-pytriton's CPU tritonserver with the python backend, whose stub
# for Python 3.11 goes into backends/python/ (the package ships it aside).
$(TRITON_STAMP): tests/triton/requirements.txt tests/triton/constraints.txt
	@test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/triton/requirements.txt -c tests/triton/constraints.txt
	@server=$$($(TRITON_VENV)/bin/python -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent / "tritonserver")') && \
	  cp "$$server/python_backend_stubs/3.11/triton_python_backend_stub" "$$server/backends/python/"
	@touch $(TRITON_STAMP)

## triton-env: real Triton (CPU, python backend) for the end-to-end tests (build/triton-venv)
triton-env: $(TRITON_STAMP)

## synth: synthesize STACK (default dev) under Pulumi mocks into build/synth/$(STACK)/
synth: $(STAMP)
	$(PY) -m tools.synth $(STACK)

## synth-all: synthesize every shipped stack
synth-all: $(STAMP)
	@for f in stacks/Pulumi.*.yaml; do s=$${f#stacks/Pulumi.}; $(PY) -m tools.synth $${s%.yaml} || exit 1; done

# promtool (Debian's prometheus package), amtool, jq and shellcheck are real validators the tests run; the
# monitoring loop's end-to-end test runs Prometheus, Alertmanager and the Pushgateway from the same packages.
system-tools:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus-pushgateway >/dev/null || missing="$$missing prometheus-pushgateway"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

## test: lint, type-check, docs freshness and the test suite
# The engine tests run when the engine is built (make engine), the cluster tests when the control plane
# is built too (make cluster); .ci/run builds both and requires their tests.
test: $(STAMP) $(LOOP_STAMP) $(TRITON_STAMP) $(POLICY_STAMP) system-tools lint typecheck
	cd loop && ../$(LOOP_PY) -m pytest
	$(WITH_GO) MLOPS_LOOP_PYTHON=$(CURDIR)/$(LOOP_PY) MLOPS_TRITON_VENV=$(CURDIR)/$(TRITON_VENV) MLOPS_ENGINE_BIN=$$(tools/engine/build.sh --cached 2>/dev/null || true) \
	  MLOPS_CLUSTER_BIN=$$(tools/cluster/build.sh --cached 2>/dev/null || true) \
	  MLOPS_FLAGGER_BIN=$$(tools/cluster/build_flagger.sh --cached 2>/dev/null || true) $(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

## docs: regenerate docs/config.md from the config models
docs: $(STAMP)
	$(PY) -m tools.config_docs
	$(PY) -m tools.component_docs

## dist: the package (components/ as mlops_platform): a wheel and an sdist in dist/
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .

## bench: write build/bench.json (synth times, scaling exponent, overhead ratio)
bench: $(STAMP) $(LOOP_STAMP) $(POLICY_STAMP) engine
	MLOPS_LOOP_PYTHON=$(CURDIR)/$(LOOP_PY) $(PY) -m tools.bench

## diff: review text of STACK between the git ref BASE and the work tree (resources, policies, cost)
diff: $(STAMP)
	@test -n "$(BASE)" || { echo "make diff: BASE=<git ref> is required" >&2; exit 2; }
	$(PY) -m tools.release.diff --base "$(BASE)" --stack "$(STACK)"

## promote: copy the pinned model versions of stack FROM into stack TO's file (e.g. FROM=canary TO=prod)
promote: $(STAMP)
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "make promote: FROM=<stack> TO=<stack> are required" >&2; exit 2; }
	$(PY) -m tools.release.promote --from "$(FROM)" --to "$(TO)"

## rollback: restore STACK's pinned model versions from the git ref TO
rollback: $(STAMP)
	@case "$(origin STACK)" in "command line"|environment) ;; *) echo "make rollback: STACK=<stack> is required" >&2; exit 2;; esac
	@test -n "$(TO)" || { echo "make rollback: TO=<git ref> is required" >&2; exit 2; }
	$(PY) -m tools.release.rollback --stack "$(STACK)" --to "$(TO)"

# Go builds the offline engine and fetches the official CRDs the tests validate against;
# tools/engine/go.sh prints the bin directory of the pinned Go, installing it when missing.
WITH_GO = gobin="$$(tools/engine/go.sh)" && export PATH="$$gobin:$$PATH" GOTOOLCHAIN=local &&
go:
	@$(WITH_GO) go version

## engine: build the pulumi CLI, Python language host and Kubernetes provider from Go modules (cached)
engine: $(STAMP)
	@$(WITH_GO) tools/engine/build.sh >/dev/null

## preview / up / destroy: the real engine on STACK (local: rendered to build/engine/local; kwok: the local
## control plane of make cluster-up), file state in build/state
preview up destroy: engine $(POLICY_STAMP)
	@case "$(origin STACK)" in "command line"|environment) ;; *) echo "make $@: STACK=<stack> is required (e.g. STACK=local)" >&2; exit 2;; esac
	@$(WITH_GO) MLOPS_ENGINE_BIN=$$(tools/engine/build.sh) tools/engine/pulumi.sh $(STACK) $@ $(if $(filter up destroy,$@),--yes)

## cluster: build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and KEDA from Go modules,
## and Flagger with its load tester under a cache key of their own (both cached)
cluster: $(STAMP)
	@$(WITH_GO) tools/cluster/build.sh >/dev/null && tools/cluster/build_flagger.sh >/dev/null

## cluster-up / cluster-down: start / stop the local control plane (state and kubeconfig in build/cluster);
## with STACK, cluster-up also creates that stack's fake nodes, CRDs and existing namespaces (e.g. STACK=kwok)
cluster-up: cluster system-tools
	@$(WITH_GO) $(PY) -m tools.cluster up $(if $(filter command line environment,$(origin STACK)),--stack $(STACK))

cluster-down: $(STAMP)
	@$(PY) -m tools.cluster down

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

# The two commands a user needs are `make demo` and `make test`; both set everything up first.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
BIN := .venv/bin

.PHONY: install demo test test-fast lint format ui emulator bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled once here: otherwise every process compiles scipy & co. again (seconds per
# command), and never saves it where PYTHONDONTWRITEBYTECODE=1 (CI, containers).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --quiet --compile-bytecode
	$(BIN)/python -m compileall -q -j 0 audio providers flows
	touch $@

install: .venv/.synced

demo: install
	$(BIN)/voxclone demo

# Both tiers, one worker more than there are cores: the integration tests mostly wait on Prefect
# servers and subprocesses, and the spare worker fills those waits. Measured on this 2-core machine
# idle (8 Dec 2026): 689 tests in 588 s wall, 956 s of CPU with 3 workers; CI's earlier run with
# 2 workers took 681 s for 644 tests. xdist's default `--dist load` stays: worksteal and loadfile
# measured alike on the fast tier.
test: install
	$(BIN)/pytest -q -n $$(($$(nproc) + 1))

# The unit tier for the edit-test loop, on every core: everything not marked integration (real
# Prefect servers, fresh interpreters, long recordings; tests/conftest.py). On this 2-core machine
# (8 Dec 2026): 586 tests in 79 s wall, 133 s of CPU, as the load fell from 4.7 to 2.5 (96 s idle
# for 564 tests before the shared fixtures).
test-fast: install
	$(BIN)/pytest -q -m "not integration" -n auto

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/deptry .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ui: install
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

emulator: install
	$(BIN)/voxclone emulator --port 8765

bench: install
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_audio.py
	$(BIN)/python benchmarks/bench_providers.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_flow.py
	$(BIN)/python benchmarks/bench_limits.py

clean:
	rm -rf .venv .tools data/store data/reports data/lineage.db data/demo

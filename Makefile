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

# Both tiers on every core: the integration tests mostly wait on servers and subprocesses, so a
# second worker fills the gaps. `time make test` on this 2-core machine while four other engineers
# ran their suites (load 19-24): 39 min wall, 938 s of CPU, so 8 min or more on two idle cores;
# not yet timed on an idle machine.
test: install
	$(BIN)/pytest -q -n auto

# The unit tier for the edit-test loop, on every core: everything not marked integration (real
# Prefect servers, fresh interpreters, long recordings; tests/conftest.py). `time make test-fast`
# on the same 2-core machine at load 17-20: 6 min 33 s wall, 112 s of CPU (user + sys), so about a
# minute on two idle cores; not yet timed on an idle machine.
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

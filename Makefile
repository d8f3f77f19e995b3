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

test: install
	$(BIN)/pytest -q

# The unit tier for the edit-test loop, on every core: everything not marked integration (real
# Prefect servers, fresh interpreters, long recordings). Under a minute on two cores.
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

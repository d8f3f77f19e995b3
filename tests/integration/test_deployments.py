"""Deployments that run: `voxclone serve` and a `prefect.yaml` deployment, against a real server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from servers import (
    BIN,
    ROOT,
    PrefectServer,
    api,
    client_env,
    create_flow_run,
    deployment,
    global_limits,
    make_inbox,
    serve_and_run,
    wait_for_final_state,
)

from providers.emulator import control

pytestmark = pytest.mark.integration


def test_served_deployment_runs_to_completed(
    prefect_server: PrefectServer, emulator, emulator_url: str, tmp_path: Path
) -> None:
    inbox = make_inbox(tmp_path)
    env = client_env(prefect_server, emulator, tmp_path / "data")
    run = serve_and_run(prefect_server.api_url, env, inbox, "itest-serve", tmp_path / "serve.log")
    assert run["state"]["type"] == "COMPLETED", (
        run["state"],
        (tmp_path / "serve.log").read_text()[-3000:],
    )
    voices = control.state(emulator_url)["voices"]
    assert {p: len(v) for p, v in voices.items() if v} == {"althea": 1, "cartesia": 1}
    # A deployment run holds each provider's cap on the server, created on first use.
    limits = global_limits(prefect_server.api_url)
    assert limits.get("provider:cartesia") == 4 and limits.get("provider:althea") == 4


def test_parameter_schema_shows_providers_and_described_options(
    prefect_server: PrefectServer, emulator, tmp_path: Path
) -> None:
    """What the UI's run form is built from: the provider enum and every option's description."""
    from prefect.utilities.callables import parameter_schema

    from flows.cli.serve import portable
    from flows.pipeline.flow import clone_voices
    from flows.pipeline.options import RunOptions

    schema = parameter_schema(portable(clone_voices).fn).model_dump()
    providers = schema["properties"]["providers"]
    item = providers["items"]
    item = schema["definitions"][item["$ref"].split("/")[-1]] if "$ref" in item else item
    assert set(item["enum"]) == {"anam", "althea", "faseeh", "callers", "elevenlabs", "cartesia"}
    options = schema["definitions"]["RunOptions"]["properties"]
    assert set(options) == set(RunOptions.model_fields) - {"cpu_pool", "progress_bar"}
    undescribed = [name for name, field in options.items() if not field.get("description")]
    assert undescribed == []
    assert options["provider_limits"]["enum"] == ["auto", "process", "server"]


def test_prefect_yaml_deployment_runs_on_a_process_worker(
    prefect_server: PrefectServer, emulator, emulator_url: str, tmp_path: Path
) -> None:
    """`prefect deploy` from the repository root with no extra env, then a process worker."""
    inbox = make_inbox(tmp_path)
    env = client_env(prefect_server, emulator, tmp_path / "data")
    prefect = str(BIN / "prefect")
    pool = "itest-pool"

    def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [prefect, "--no-prompt", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done

    cli("work-pool", "create", pool, "--type", "process", "--overwrite")
    cli("deploy", "--name", "ad-hoc", "--pool", pool)
    found = deployment(prefect_server.api_url, "clone-voices/ad-hoc")
    assert found["work_pool_name"] == pool
    assert found["pull_steps"][0]["prefect.deployments.steps.set_working_directory"][
        "directory"
    ] == str(ROOT)
    flow_run_id = create_flow_run(
        prefect_server.api_url, found["id"], {"inbox": str(inbox), "providers": ["cartesia"]}
    )
    worker = cli("worker", "start", "--pool", pool, "--run-once", timeout=400)
    run = wait_for_final_state(prefect_server.api_url, flow_run_id, timeout=60)
    assert run["state"]["type"] == "COMPLETED", (
        run["state"],
        worker.stdout[-3000:],
        worker.stderr[-3000:],
    )
    logs = api(
        "POST",
        f"{prefect_server.api_url}/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}},
    ).json()
    (tmp_path / "flow-run.log").write_text("\n".join(row["message"] for row in logs))
    voices = control.state(emulator_url)["voices"]
    assert {p: len(v) for p, v in voices.items() if v} == {"cartesia": 1}, tmp_path / "flow-run.log"
    assert all(env["CARTESIA_API_KEY"] not in row["message"] for row in logs)

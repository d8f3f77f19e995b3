"""`voxclone run INBOX --providers a,b,c`: the flow, ad hoc, with a progress bar and a result table."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from providers import NAMES as PROVIDERS

if TYPE_CHECKING:
    from flows.pipeline.options import RunOptions
    from flows.records import RunSummary


def providers_arg(value: str) -> list[str]:
    """argparse's type for --providers: every unknown name is named, with the near miss."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    if value.strip() == "all":
        return list(PROVIDERS)
    unknown = [_unknown(n) for n in names if n not in PROVIDERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown provider(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(PROVIDERS)} or 'all'"
        )
    return names


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, PROVIDERS, n=1)
    return f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


# flag -> RunOptions field: the CLI's defaults, choices, limits and help all come from the model.
RUN_FLAGS = {
    "--target-lufs": "target_lufs",
    "--ceiling-dbtp": "ceiling_dbtp",
    "--rate": "sample_rate",
    "--denoise": "denoise",
    "--workers": "workers",
    "--provider-limits": "provider_limits",
    "--clone-check": "clone_check",
}
AUDIO_FLAGS = {f: RUN_FLAGS[f] for f in ("--target-lufs", "--ceiling-dbtp", "--rate", "--denoise")}
SEND_FLAGS = {  # `run` only
    "--dry-run": "dry_run",
    "--force": "force",
    "--accept-new-ledger": "accept_new_ledger",
}


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `run`, `demo` and `serve`, derived from `RunOptions`."""
    from flows.cli.settings_options import add_model_options
    from flows.pipeline.options import RunOptions

    parser.add_argument(
        "--providers",
        type=providers_arg,
        default=list(PROVIDERS),
        help="comma-separated, or 'all' (default)",
    )
    add_model_options(parser, RunOptions, RUN_FLAGS)


def options_from(args: argparse.Namespace, **extra: object) -> dict:
    """The `RunOptions` keyword arguments the command line asked for."""
    from flows.cli.settings_options import model_values

    return {**model_values(args, {**RUN_FLAGS, **SEND_FLAGS}), **extra}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from flows import config

    parser.add_argument(
        "inbox",
        nargs="?",
        default=str(config.inbox_dir()),
        help="folder with one sub-folder per voice (default: $VOXCLONE_DATA_DIR/inbox, %(default)s)",
    )
    parser.add_argument(
        "--manifest", help="a TOML file listing voices and their clips anywhere on disk"
    )
    add_run_options(parser)
    from flows.cli.settings_options import add_model_options
    from flows.pipeline.options import RunOptions

    add_model_options(parser, RunOptions, SEND_FLAGS)
    parser.add_argument("--task-runner", choices=["local", "dask"], default="local")
    parser.add_argument(
        "--dask-address",
        help="scheduler address, e.g. tcp://scheduler:8786 (default: a local cluster)",
    )
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


def _dask(args: argparse.Namespace) -> bool:
    return getattr(args, "task_runner", "local") == "dask"


def run_options(args: argparse.Namespace, **extra: object) -> RunOptions:
    from flows.pipeline.options import RunOptions

    return RunOptions(
        **options_from(
            args,
            cpu_pool=not _dask(args),  # Dask workers are processes already
            progress_bar=not getattr(args, "json", False),
            **extra,
        )
    )


def head_start(args: argparse.Namespace, behind_server: bool) -> Callable[[], None] | None:
    """Before Prefect is imported: queue the clips' CPU work, then import the flow (all of which
    overlaps with Prefect's temporary server starting when `behind_server`, see
    `flows.cli.server.run_with_server`)."""
    from pydantic import ValidationError

    from flows import ledger
    from flows.pipeline import cpu_pool

    ledger.engine()  # a damaged ledger: one message at once, not after the server has started
    try:
        options = run_options(args)
    except ValidationError:
        return None  # `run` says what is wrong
    cpu_pool.start(args.inbox, args.manifest, args.providers, options, behind_server)
    import flows.pipeline.flow  # noqa: F401

    return cpu_pool.discard  # the queued work, when the flow did not take it


def run_flow(
    args: argparse.Namespace, inbox: str, manifest: str | None, **extra: object
) -> RunSummary:
    from flows.pipeline.flow import clone_voices
    from flows.records import RunSummary

    flow = clone_voices
    if _dask(args):
        from prefect_dask import DaskTaskRunner

        runner: Any = DaskTaskRunner(address=args.dask_address)  # typed for another TaskRunner
        flow = clone_voices.with_options(task_runner=runner)
    options = run_options(args, **extra)
    state = flow(
        inbox=inbox, providers=args.providers, options=options, manifest=manifest, return_state=True
    )
    # A Failed run (some clone did not settle) still carries its summary, so the tables print.
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if state.is_failed() and state.message:
        print(f"voxclone run: {state.message}", file=sys.stderr)
    if not isinstance(result, RunSummary):  # the flow returns it, a Failed run's state too
        raise TypeError(f"the flow returned {type(result).__name__}, not the run's summary")
    return result


def print_run(run: RunSummary, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    from flows.report import summary, tables

    print(file=out)
    tables.print_table(
        summary.clip_rows(run, list(run.providers)), "Clips", out, below=summary.CLIP_SENTENCES
    )
    print(file=out)
    tables.print_table(
        summary.result_rows(run), "Results per voice × provider", out,
        below=summary.RESULT_SENTENCES,
    )  # fmt: skip
    width = tables.width_of(out)
    lines = [f"{voice}: {line}" for voice, line in sorted(summary.rankings(run.results).items())]
    lines += [f"refused: {p['path']}: {p['reason']}" for p in run.problems]
    for line in lines:
        print(tables.wrap(line, width), file=out)
    if run.report:
        print("\n" + tables.wrap(f"Report (open it in a browser): {run.report}", width), file=out)
    elif not run.changed:
        last = run.last_report
        print("\nNothing changed since the last run; no new report.", file=out)
        if last:
            print(tables.wrap(f"Last report: {last}", width), file=out)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from flows import ledger

    ledger.engine()  # a damaged ledger is one message (flows.cli.main), before the flow starts
    try:
        result = run_flow(
            args,
            args.inbox,
            args.manifest,
            dry_run=args.dry_run,
            force=args.force,
            report=not args.no_report,
        )
    except ValidationError as e:
        print(f"voxclone run: invalid option: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print_run(result)
    return 1 if result.failed else 0

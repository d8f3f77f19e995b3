"""`voxclone run INBOX --providers a,b,c`: the flow, ad hoc, with a progress bar and a result table."""

from __future__ import annotations

import argparse
import json
import sys

from providers import NAMES as PROVIDERS


def providers_arg(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if value.strip() == "all":
        return list(PROVIDERS)
    unknown = [n for n in names if n not in PROVIDERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown provider(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(PROVIDERS)} or 'all'"
        )
    return names


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `run`, `demo` and `serve`."""
    parser.add_argument(
        "--providers",
        type=providers_arg,
        default=list(PROVIDERS),
        help="comma-separated, or 'all' (default)",
    )
    parser.add_argument("--target-lufs", type=float, default=-20.0)
    parser.add_argument("--ceiling-dbtp", type=float, default=-3.0)
    parser.add_argument("--rate", type=int, default=44100, help="output sample rate")
    parser.add_argument("--denoise", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--workers", type=int, default=None, help="CPU worker processes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inbox", nargs="?", default="data/inbox", help="folder with one sub-folder per voice"
    )
    parser.add_argument(
        "--manifest", help="a TOML file listing voices and their clips anywhere on disk"
    )
    add_run_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="do everything but send")
    parser.add_argument(
        "--force", action="store_true", help="send requests held as 'outcome unknown'"
    )
    parser.add_argument("--task-runner", choices=["local", "dask"], default="local")
    parser.add_argument(
        "--dask-address",
        help="scheduler address, e.g. tcp://scheduler:8786 (default: a local cluster)",
    )
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


def options_from(args: argparse.Namespace, **extra: object) -> dict:
    opts = {
        "target_lufs": args.target_lufs,
        "ceiling_dbtp": args.ceiling_dbtp,
        "sample_rate": args.rate,
        "denoise": args.denoise,
        **extra,
    }
    if args.workers:
        opts["workers"] = args.workers
    return opts


def run_flow(args: argparse.Namespace, inbox: str, manifest: str | None, **extra: object) -> dict:
    from flows.pipeline.flow import clone_voices
    from flows.pipeline.options import RunOptions

    flow = clone_voices
    cpu_pool = True
    if getattr(args, "task_runner", "local") == "dask":
        from prefect_dask import DaskTaskRunner

        flow = clone_voices.with_options(task_runner=DaskTaskRunner(address=args.dask_address))
        cpu_pool = False  # Dask workers are processes already
    options = RunOptions(
        **options_from(
            args, cpu_pool=cpu_pool, progress_bar=not getattr(args, "json", False), **extra
        )
    )
    return flow(inbox=inbox, providers=args.providers, options=options, manifest=manifest)


def print_run(run: dict, out: object = sys.stdout) -> None:
    from flows.report import summary

    print("\nClips", file=out)
    print(summary.table_text(summary.clip_rows(run, run["providers"])), file=out)
    print("\nResults per voice × provider", file=out)
    print(summary.table_text(summary.result_rows(run)), file=out)
    for p in run["problems"]:
        print(f"refused: {p['path']}: {p['reason']}", file=out)
    if run.get("report"):
        print(f"\nReport: {run['report']}", file=out)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from flows.report import summary

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
        clean = {
            **result,
            "clips": [
                {k: v for k, v in c.items() if k not in ("before", "after")}
                for c in result["clips"]
            ],
        }
        print(json.dumps(clean, indent=2, default=str))
    else:
        print_run(result)
    return 1 if summary.failed(result) else 0

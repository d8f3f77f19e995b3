"""`voxclone serve --cron "*/15 * * * *"`: watch the inbox on a schedule; only new or changed sources do work."""

from __future__ import annotations

import argparse
import typing
from typing import Any

from flows.cli.run import add_run_options, options_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from flows import config

    parser.add_argument(
        "--cron", default="*/15 * * * *", help="schedule (default every 15 minutes)"
    )
    parser.add_argument(
        "--inbox",
        default=str(config.inbox_dir()),
        help="folder to watch (default: $VOXCLONE_DATA_DIR/inbox, %(default)s)",
    )
    parser.add_argument("--name", default="inbox-watch", help="deployment name")
    add_run_options(parser)
    parser.add_argument("--task-runner", choices=["local", "dask"], default="local")
    parser.add_argument(
        "--dask-address",
        help="scheduler address, e.g. tcp://scheduler:8786 (default: a local cluster per run)",
    )


def portable(flow: Any) -> Any:
    """The flow with its parameter annotations resolved to the types themselves.

    `serve` hands each run to a spawned process as a cloudpickle of the flow. The flow's module
    attribute is the Flow, not its function, so cloudpickle copies the function by value, and
    that copy's globals keep only the names its body uses. With `from __future__ import
    annotations` the annotations are strings ("list[ProviderName]"), and Prefect's parameter
    model then cannot resolve them in the child: every run failed with "Clone_VoicesModel is not
    fully defined". Resolved annotations travel inside the pickle, whatever the signature.
    """
    flow.fn.__annotations__ = typing.get_type_hints(flow.fn, include_extras=True)
    return flow


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flows.pipeline.flow import clone_voices
    from flows.pipeline.options import RunOptions

    flow = clone_voices
    cpu_pool = True
    if args.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        runner: Any = DaskTaskRunner(address=args.dask_address)  # typed for another TaskRunner
        flow = clone_voices.with_options(task_runner=runner)
        cpu_pool = False  # Dask workers are processes already
    options = RunOptions(**options_from(args, cpu_pool=cpu_pool))
    portable(flow).serve(
        name=args.name,
        cron=args.cron,
        parameters={
            "inbox": str(Path(args.inbox).resolve()),
            "providers": args.providers,
            "options": options.model_dump(),
        },
        limit=1,  # one run at a time per serve process; the ledger makes overlapping runs safe anyway
    )
    return 0

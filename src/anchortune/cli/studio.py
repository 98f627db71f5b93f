"""The studio's commands: `serve` (web UI, OpenAI-compatible API, embedded workers) and `worker` (jobs from the
studio's store), over one Workspace each. Registered on the `anchortune` app by cli/main.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from anchortune.cli.console import console, line


def _workspace(data: Optional[Path], models: list[str], token: Optional[str] = None, allowed_hosts: tuple = (),
               python_graders: bool = False):
    from anchortune.app.workspace import StudioConfig, Workspace

    named = {}
    for item in models:
        name, _, path = item.partition("=") if "=" in item else (Path(item).name, "", item)
        named[name] = path
    return Workspace(StudioConfig.from_env(data_dir=data, models=named, token=token,
                                           allowed_hosts=allowed_hosts or None, python_graders=python_graders))


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback requires a bearer token."),
    port: int = typer.Option(8000, help="Port to listen on."),
    data: Optional[Path] = typer.Option(None, help="Studio data folder (default: ANCHORTUNE_DATA, else studio/ in "
                                                    "ANCHORTUNE_HOME, "
                                                    "~/.cache/anchortune)."),
    token: Optional[str] = typer.Option(None, envvar="ANCHORTUNE_TOKEN", show_envvar=True,
                                        help="Bearer token for the API and pages (made up and printed when "
                                             "bound beyond loopback without one)."),
    workers: int = typer.Option(1, min=0, help="Embedded worker threads (0: only separate `anchortune worker`s)."),
    model: list[str] = typer.Option([], "--model", help="Offer a local model: PATH or NAME=PATH (repeatable)."),
    allowed_host: list[str] = typer.Option([], "--allowed-host",
                                           help="A host name requests may use besides loopback and the bound address "
                                                "(a proxy's or the machine's name; '*': any). Repeatable."),
    python_graders: bool = typer.Option(False, "--python-graders",
                                        help="Accept reinforcement jobs whose grader is python code (run in a child "
                                             "process with time and memory limits, but user code all the same)."),
) -> None:
    """Start the studio: web UI, OpenAI-compatible API and an embedded worker."""
    import secrets

    import uvicorn

    from anchortune.api.app import create_app, is_loopback

    if not is_loopback(host) and not token:
        token = secrets.token_urlsafe(24)
        console.print(line("cli_studio_token", host=host, text=token), highlight=False, markup=False)
    from anchortune.app.workspace import own_addresses

    wildcard = host in ("0.0.0.0", "::", "")
    bound = own_addresses() if wildcard else (host,)  # a wildcard bind serves the machine's own names
    workspace = _workspace(data, model, token, bound + tuple(allowed_host), python_graders)
    console.print(line("cli_studio_on", origin=f"http://{host}:{port}/", file=workspace.data), highlight=False,
                  markup=False)
    if not is_loopback(host):
        names = ", ".join(workspace.config.allowed_hosts) or line("cli_studio_loopback_only")
        console.print(line("cli_studio_names", names=names), highlight=False, markup=False)
    uvicorn.run(create_app(workspace, workers=workers), host=host, port=port, log_level="warning")


def worker(
    data: Optional[Path] = typer.Option(None, help="Studio data folder (the server's)."),
    model: list[str] = typer.Option([], "--model", help="Local models the server offers: PATH or NAME=PATH."),
    name: Optional[str] = typer.Option(None, help="Worker name in job records (default host:pid)."),
    ray: Optional[str] = typer.Option(None, help="Train each job on a Ray cluster: its dashboard address "
                                                 "(http://HEAD:8265); the nodes must see the data folder at the "
                                                 "same path."),
    ray_python: str = typer.Option("python", help="The Python with anchortune on the Ray cluster's nodes."),
) -> None:
    """Run jobs from the studio's store until stopped (Ctrl-C); start as many as the machine carries."""
    from anchortune.app import jobs

    workspace = _workspace(data, model)
    dispatch = None
    if ray:
        from anchortune.app.ray_dispatch import RayDispatch

        dispatch = RayDispatch(ray, ray_python)
        dispatch.client()  # an unreachable cluster is said now, not at the first job
    store = workspace.store.url.split("://")[0]
    console.print(line("cli_worker_on_ray", name=store, file=workspace.data, host=ray) if ray else
                  line("cli_worker_on", name=store, file=workspace.data), highlight=False, markup=False)
    jobs.worker(workspace, name, dispatch).run()

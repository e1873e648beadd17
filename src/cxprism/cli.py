"""The ``cxprism`` command: serve, worker, db, demo, users, api-keys, jobs."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from typing import Any

import typer
from rich.console import Console

from cxprism import migrate
from cxprism.config import DEFAULT_SECRET, get_settings
from cxprism.demo import seed_demo
from cxprism.kit.db import Database
from cxprism.ledger.cli import ledger_app
from cxprism.outbound.cli import outbound_app
from cxprism.runtime import Runtime
from cxprism.scheduler.cli import jobs_app
from cxprism.webhooks.cli import webhooks_app
from cxprism.workspaces.cli import api_keys_app, run_command, users_app

app = typer.Typer(help="cxprism: open-source customer experience management.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(jobs_app, name="jobs")
app.add_typer(outbound_app, name="outbound")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(ledger_app, name="ledger")
console = Console()


def _configure_logging() -> None:
    level = get_settings().log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _warn_if_insecure() -> None:
    if get_settings().secret_key.get_secret_value() == DEFAULT_SECRET:
        console.print("[yellow]warning:[/yellow] CXPRISM_SECRET_KEY is the development default; "
                      "set your own before real use.")


@app.command()
def serve(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000),
          workers: bool = typer.Option(True, help="Run the relay and job workers in-process."),
          processes: int = typer.Option(1, min=1, max=64,
                                        help="Server processes sharing the port (PostgreSQL).")
          ) -> None:
    """Serve the API, the web UI, the relay and the job workers in one process (or N)."""
    import uvicorn

    from cxprism.app import create_server_app
    from cxprism.kit.http_server import server_options

    _configure_logging()
    _warn_if_insecure()
    settings = get_settings()
    options: dict[str, Any] = {**server_options(), "host": host, "port": port,
                               "log_level": settings.log_level,
                               "access_log": settings.access_log}
    if processes > 1 and settings.is_sqlite:
        console.print("[yellow]SQLite takes one writer at a time: serving one process.")
        processes = 1
    if processes == 1:
        server_app = create_server_app(settings, run_workers=workers)
        _tune_garbage_collector()  # after building the app: its objects live for good too
        uvicorn.run(server_app, **options)
        return
    # Each process builds its own app from the environment (uvicorn needs an import path).
    os.environ["CXPRISM_EMBEDDED_WORKERS"] = "true" if workers else "false"
    uvicorn.run("cxprism.cli:server_app_of_process", factory=True, workers=processes,
                **options)


def server_app_of_process() -> Any:
    """The app each of ``serve --processes N``'s processes builds: uvicorn starts them
    afresh, so each tunes its own garbage collector (it once ran at the defaults, and
    collected so often that two processes took more CPU than one for fewer events)."""
    from cxprism.app import create_server_app

    server_app = create_server_app()
    _tune_garbage_collector()
    return server_app


def _tune_garbage_collector() -> None:
    """Fewer, cheaper collections: a server makes many short-lived objects per request, and
    full collections over every long-lived module object stall every request in flight."""
    gc.collect()
    gc.freeze()  # what is alive at start-up lives for good: never scan it again
    gc.set_threshold(50_000, 20, 20)


@app.command()
def worker() -> None:
    """Run the relay and job workers only: add these processes to scale out."""
    _configure_logging()

    async def main() -> None:
        settings = get_settings()
        database = Database(settings.database_url, pool_size=settings.database_pool_size)
        runtime = Runtime(database, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runtime.stop_event.set)
        await runtime.start()
        console.print("worker running; Ctrl-C to stop")
        await runtime.stop_event.wait()
        await runtime.stop()
        await database.dispose()

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations to CXPRISM_DATABASE_URL."""
    url = get_settings().database_url
    migrate.upgrade(url, revision)
    console.print(f"database at revision {revision}")


@app.command()
def demo(slug: str = typer.Option("demo"), customers: int = typer.Option(50)) -> None:
    """Create a demo workspace with an admin and sample customers; print how to sign in."""

    async def run() -> None:
        settings = get_settings()
        database = Database(settings.database_url)
        try:
            info = await seed_demo(database, slug=slug, customers=customers, console=console)
        finally:
            await database.dispose()
        console.print(f"\n[bold green]Demo workspace ready[/bold green] at {settings.base_url}")
        console.print(f"  workspace: {info.slug}\n  email:     {info.email}\n"
                      f"  password:  {info.password}\n  API key:   {info.api_key}\n"
                      f"  write key: {info.write_key}  (Segment SDKs: host {settings.base_url})")

    run_command(run())

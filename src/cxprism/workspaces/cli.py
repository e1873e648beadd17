"""`cxprism users create` and `cxprism api-keys create`: operator commands for any workspace."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from cxprism.config import get_settings
from cxprism.kit.db import Database
from cxprism.kit.errors import AppError, NotFound
from cxprism.workspaces import repository as repo
from cxprism.workspaces import schemas
from cxprism.workspaces.permissions import Role
from cxprism.workspaces.service import WorkspaceService

console = Console()
users_app = typer.Typer(help="Manage users of a workspace.", no_args_is_help=True)
api_keys_app = typer.Typer(help="Manage API keys of a workspace.", no_args_is_help=True)


@asynccontextmanager
async def workspace_service(slug: str) -> AsyncIterator[WorkspaceService]:
    """A service for the workspace ``slug``; commits when the block succeeds."""
    db = Database(get_settings().database_url)
    try:
        async with db.session() as session:
            workspace = await repo.workspace_by_slug(session, slug)
            if workspace is None:
                raise NotFound(f"No workspace with slug {slug!r}.")
            yield WorkspaceService(session, workspace.id)
            await session.commit()
    finally:
        await db.dispose()


def run_command(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a command; the caller's mistakes print a one-line error and exit 1."""
    try:
        asyncio.run(coroutine)
    except AppError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        console.print(f"[red]error:[/red] {problems}")
        raise typer.Exit(1) from exc


@users_app.command("create")
def create_user(
    workspace: str = typer.Option(..., help="Workspace slug."),
    email: str = typer.Option(...),
    name: str = typer.Option(...),
    role: Role = typer.Option(Role.AGENT),
    password: str | None = typer.Option(None, help="Prompted for when omitted."),
) -> None:
    """Create a user who can sign in to the web UI."""
    secret = password or getpass.getpass("Password: ")

    async def create() -> None:
        async with workspace_service(workspace) as service:
            user = await service.create_user(schemas.UserCreate(
                email=email, name=name, role=role, password=secret))
        console.print(f"created user [bold]{user.email}[/bold] ({user.role}) id={user.id}")

    run_command(create())


@api_keys_app.command("create")
def create_api_key(
    workspace: str = typer.Option(..., help="Workspace slug."),
    name: str = typer.Option(...),
    role: Role = typer.Option(Role.ADMIN),
) -> None:
    """Create an API key; the secret is printed once and never stored."""

    async def create() -> None:
        async with workspace_service(workspace) as service:
            key, secret = await service.create_api_key(schemas.ApiKeyCreate(name=name, role=role))
        console.print(f"API key {key.id} ({key.role}); store this secret now, it is not kept:")
        console.print(secret, highlight=False, soft_wrap=True)

    run_command(create())

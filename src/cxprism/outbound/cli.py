"""``cxprism outbound ...``: sends and their history, templates, budgets, the kill switch."""

from __future__ import annotations

import uuid
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cxprism.customers.schemas import Channel
from cxprism.outbound.controls import ControlService
from cxprism.outbound.schemas import TemplateCreate
from cxprism.outbound.service import SendService
from cxprism.outbound.templates import TemplateService
from cxprism.workspaces.cli import run_command, workspace_service

console = Console()
outbound_app = typer.Typer(help="The outbound pipeline: sends, templates, budgets, pausing.",
                           no_args_is_help=True)
WORKSPACE = typer.Option(..., help="Workspace slug.")
ACTOR = "cli"


@outbound_app.command("sends")
def list_sends(workspace: str = WORKSPACE,
               status: str | None = typer.Option(None, help="Only sends in this state."),
               limit: int = typer.Option(50, min=1, max=500)) -> None:
    """The workspace's sends, oldest first, with their state and reason."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            sends, _ = await SendService(owner.session, owner.workspace_id).page(
                customer_id=None, status=status, cause=None, cursor=None, limit=limit)
        table = Table("id", "cause", "medium", "status", "reason", "attempts")
        for send in sends:
            table.add_row(str(send.id), send.cause, send.medium or "-", send.status,
                          send.reason or "", str(send.attempts))
        console.print(table)

    run_command(run())


@outbound_app.command("show")
def show_send(send_id: uuid.UUID, workspace: str = WORKSPACE) -> None:
    """One send's state history: the audit trail."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            send = await SendService(owner.session, owner.workspace_id).get(send_id)
        console.print(f"{send.id}  {send.cause}  -> {send.recipient or '-'} "
                      f"({send.medium or '-'}): {send.status}")
        if send.choice_reason:
            console.print(f"channel: {send.choice_reason}")
        for entry in send.history:
            console.print(f"  {entry['at']}  {entry['status']:<10} {entry.get('reason', '')} "
                          f"{entry.get('detail', '')}")

    run_command(run())


@outbound_app.command("template")
def add_template(  # noqa: PLR0917 - Typer arguments
        name: str, medium: Channel, text_file: Path, workspace: str = WORKSPACE,
        locale: str = typer.Option("en"), subject: str | None = typer.Option(None)) -> None:
    """Add a new version of a template from a text file (Jinja2)."""
    text = text_file.read_text(encoding="utf-8")

    async def run() -> None:
        data = TemplateCreate(name=name, medium=medium, locale=locale, subject=subject,
                              text=text)
        async with workspace_service(workspace) as owner:
            template = await TemplateService(owner.session, owner.workspace_id,
                                             ACTOR).create(data)
        console.print(f"{template.name} ({template.medium}, {template.locale}) "
                      f"version {template.version}")

    run_command(run())


@outbound_app.command("budget")
def set_budget(medium: Channel, daily_limit: int = typer.Argument(..., min=0),
               workspace: str = WORKSPACE) -> None:
    """Set a medium's daily send budget."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            await ControlService(owner.session, owner.workspace_id, ACTOR).set_budget(
                medium.value, daily_limit)
        console.print(f"{medium.value}: at most {daily_limit} sends a day")

    run_command(run())


@outbound_app.command("pause")
def pause(reason: str, workspace: str = WORKSPACE) -> None:
    """The kill switch: hold every marketing send until `resume`."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            await ControlService(owner.session, owner.workspace_id, ACTOR).pause_marketing(
                reason)
        console.print("marketing sends paused")

    run_command(run())


@outbound_app.command("resume")
def resume(workspace: str = WORKSPACE) -> None:
    """Lift the kill switch; the held marketing sends go out (if still allowed)."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            _, released = await ControlService(owner.session, owner.workspace_id,
                                               ACTOR).resume_marketing()
        console.print(f"marketing resumed; {released} held send(s) released")

    run_command(run())

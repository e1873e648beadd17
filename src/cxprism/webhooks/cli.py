"""``cxprism webhooks list|create|deliveries|redeliver``: operator commands for a workspace."""

from __future__ import annotations

import uuid

import typer
from rich.console import Console
from rich.table import Column, Table

from cxprism.webhooks.models import DeliveryStatus
from cxprism.webhooks.schemas import EndpointCreate
from cxprism.webhooks.service import WebhookService
from cxprism.workspaces.cli import run_command, workspace_service

console = Console()
webhooks_app = typer.Typer(help="Outgoing webhooks: endpoints, deliveries, redelivery.",
                           no_args_is_help=True)
WORKSPACE = typer.Option(..., help="Workspace slug.")


def _id_column(title: str) -> Column:
    """Ids are copied into other commands: shown whole, never wrapped."""
    return Column(title, no_wrap=True, min_width=36)


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "-"


@webhooks_app.command("list")
def list_endpoints(workspace: str = WORKSPACE) -> None:
    """List the workspace's webhook endpoints."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            endpoints = await WebhookService(owner.session, owner.workspace_id).list_endpoints()
        table = Table(_id_column("id"), "url", "event types", "active", "disabled because")
        for endpoint in endpoints:
            table.add_row(str(endpoint.id), endpoint.url, ", ".join(endpoint.event_types),
                          "yes" if endpoint.is_active else "no",
                          endpoint.disabled_reason or "")
        console.print(table)
        console.print(f"{len(endpoints)} endpoint(s)")

    run_command(run())


@webhooks_app.command("create")
def create_endpoint(
    workspace: str = WORKSPACE,
    url: str = typer.Option(..., help="Where to POST events (a public http(s) URL)."),
    event_type: list[str] = typer.Option(
        ..., "--event-type", "-e", help="'*', 'prefix.*' or an exact type; repeatable."),
    description: str = typer.Option("", help="What this endpoint is for."),
) -> None:
    """Subscribe a URL to event types; prints the signing secret, which is shown once."""

    async def run() -> None:
        data = EndpointCreate(url=url, event_types=event_type, description=description)
        async with workspace_service(workspace) as owner:
            endpoint, secret = await WebhookService(
                owner.session, owner.workspace_id).create_endpoint(data)
        console.print(f"created endpoint {endpoint.id} for {endpoint.url}")
        console.print(f"signing secret (shown once): [bold]{secret}[/bold]")

    run_command(run())


@webhooks_app.command("deliveries")
def list_deliveries(
    endpoint_id: uuid.UUID = typer.Argument(..., help="The endpoint's id."),
    workspace: str = WORKSPACE,
    status: DeliveryStatus | None = typer.Option(None, help="Only deliveries in this status."),
    limit: int = typer.Option(50, min=1, max=200, help="How many, newest first."),
) -> None:
    """List an endpoint's deliveries, newest first."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            deliveries, _next = await WebhookService(
                owner.session, owner.workspace_id).list_deliveries(endpoint_id, status, None,
                                                                   limit)
        # One line each, never truncated: ids are copied into `redeliver`, errors read whole.
        for d in deliveries:
            console.print(f"{d.id}  {d.event_type}  {d.status}  attempts={d.attempts}  "
                          f"next={_when(d.next_attempt_at)}  last={d.last_status_code or '-'}"
                          + (f"  error={d.last_error}" if d.last_error else ""),
                          soft_wrap=True, markup=False, highlight=False)
        console.print(f"{len(deliveries)} deliver(ies), newest first")

    run_command(run())


@webhooks_app.command("redeliver")
def redeliver(delivery_id: uuid.UUID = typer.Argument(..., help="The delivery's id."),
              workspace: str = WORKSPACE) -> None:
    """Send a delivery again, with the same webhook-id and a fresh retry schedule."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            delivery = await WebhookService(owner.session, owner.workspace_id).redeliver(
                delivery_id)
        console.print(f"delivery {delivery.id} ({delivery.event_type}) queued again")

    run_command(run())

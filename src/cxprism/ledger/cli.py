"""``cxprism ledger verify|audit|checkpoint|receipt|key|export``.

``verify`` works offline: it reads a receipt or consistency bundle and the published
verifier key, and touches neither the database nor the server's settings.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from rich.console import Console

from cxprism.ledger import receipts, witness
from cxprism.ledger.audit import AuditReport
from cxprism.ledger.checkpoint import CheckpointError, VerifierKey, parse_verifier_key
from cxprism.ledger.proofs import ProofService
from cxprism.ledger.service import LedgerService
from cxprism.workspaces.cli import run_command, workspace_service

console = Console()
ledger_app = typer.Typer(help="The trust ledger: verify receipts offline, audit, checkpoints.",
                         no_args_is_help=True)
WORKSPACE = typer.Option(..., help="Workspace slug.")


def _say(text: str, end: str = "\n") -> None:
    """Plain text, never wrapped: verdicts are read by scripts as well as people."""
    console.print(text, markup=False, highlight=False, soft_wrap=True, end=end)


def _fail(message: str) -> None:
    _say(f"NOT VERIFIED: {message}")
    raise typer.Exit(1)


def _key(value: str) -> VerifierKey:
    path = Path(value)
    text = path.read_text(encoding="utf-8") if path.is_file() else value
    try:
        return parse_verifier_key(text.strip())
    except CheckpointError as exc:
        console.print(f"[red]error:[/red] the verifier key: {exc}")
        raise typer.Exit(2) from exc


@ledger_app.command("verify")
def verify(document: Path = typer.Argument(..., exists=True, dir_okay=False,
                                           help="A receipt or consistency bundle (JSON)."),
           key: str = typer.Option(..., "--key", help="The log's verifier key, or a file "
                                   "holding it (GET /api/v1/ledger/key).")) -> None:
    """Check a receipt (entry, inclusion proof, signed checkpoint) or a consistency bundle
    (two signed checkpoints and their proof) offline, with only the public key."""
    verifier = _key(key)
    try:
        parsed = orjson.loads(document.read_bytes())
    except orjson.JSONDecodeError:
        _fail("the file is not JSON")
    if not isinstance(parsed, dict):
        _fail("the file is not a JSON object")
    try:
        if parsed.get("format") == receipts.CONSISTENCY_FORMAT:
            old, new = receipts.verify_bundle(parsed, verifier)
            _say(f"VERIFIED: the log {new.origin} of {new.size} entries extends "
                          f"its checkpoint of {old.size}")
            return
        checked = receipts.verify_receipt(parsed, verifier)
    except receipts.ReceiptError as exc:
        _fail(str(exc))
        return
    event = checked.entry.get("event", {})
    _say(f"VERIFIED: entry {checked.index} ({event.get('type')}, {event.get('at')}) is in "
         f"{checked.checkpoint.origin} of {checked.checkpoint.size} entries")


@ledger_app.command("audit")
def audit(workspace: str = WORKSPACE) -> None:
    """Recompute the log from the stored entries; exit 1 with the first changed index."""
    reports: list[AuditReport] = []

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            proofs = ProofService(LedgerService(owner.session, owner.workspace_id))
            reports.append(await proofs.audit())

    run_command(run())
    report = reports[0]
    if report.finding is None:
        _say(f"intact: {report.checked} entries recomputed, every hash and checkpoint "
                      "matches")
        return
    _say(f"TAMPERED at index {report.finding.index}: {report.finding.problem}")
    raise typer.Exit(1)


@ledger_app.command("checkpoint")
def checkpoint(workspace: str = WORKSPACE) -> None:
    """Sign the current tree head now and print the signed note."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            signed = await LedgerService(owner.session, owner.workspace_id).sign_checkpoint()
        _say(signed.note, end="")

    run_command(run())


@ledger_app.command("receipt")
def receipt(index: int = typer.Argument(..., min=0), workspace: str = WORKSPACE,
            output: Path | None = typer.Option(None, "--output", "-o")) -> None:
    """Write the receipt of entry ``index`` (stdout by default)."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            proofs = ProofService(LedgerService(owner.session, owner.workspace_id))
            document = await proofs.receipt(await proofs.entry(index))
        _write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n", output)

    run_command(run())


@ledger_app.command("key")
def key_command(workspace: str = WORKSPACE) -> None:
    """Print the log's verifier key (publish it; verifiers need nothing else)."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            key = await LedgerService(owner.session, owner.workspace_id).verifier_key()
        _say(key.encode())

    run_command(run())


@ledger_app.command("export")
def export(workspace: str = WORKSPACE,
           output: Path = typer.Option(..., "--output", "-o", dir_okay=False)) -> None:
    """Write every signed checkpoint to a file, for a witness kept outside cxprism."""

    async def run() -> None:
        async with workspace_service(workspace) as owner:
            notes = await witness.all_notes(owner.session, owner.workspace_id)
        _write(notes, output)

    run_command(run())


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")

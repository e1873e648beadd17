"""`cxprism demo`: a demo workspace with an admin, an API key and sample customers.

Running it again keeps the workspace and its customers, and issues a fresh admin
password and API key (the old password stops working), so the printed credentials
always work.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass

from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers.consent import Decision
from cxprism.customers.identities import IdentityKind, normalise
from cxprism.customers.schemas import Channel, ConsentStatus, Purpose
from cxprism.customers.service import CustomerService
from cxprism.kit.db import Database
from cxprism.tracking.demo import Visitor, seed_trails
from cxprism.workspaces import repository as workspace_repo
from cxprism.workspaces import schemas
from cxprism.workspaces.auth import source_for_write_key
from cxprism.workspaces.permissions import Role
from cxprism.workspaces.service import WorkspaceService, create_workspace, reveal_write_key

FIRST = ["Ana", "Bruno", "Chloé", "Dmitri", "Emeka", "Fatima", "Giulia", "Hiro", "Ingrid",
         "Jamal", "Keiko", "Lars", "Maya", "Nikos", "Olu", "Priya", "Quentin", "Rosa",
         "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe"]
LAST = ["Almeida", "Berg", "Chen", "Dubois", "Eriksen", "Fernández", "García", "Haddad",
        "Ivanova", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel"]
PLACES = [("Lisbon", "Europe/Lisbon", "pt-PT"), ("Paris", "Europe/Paris", "fr-FR"),
          ("London", "Europe/London", "en-GB"), ("New York", "America/New_York", "en-US"),
          ("Tokyo", "Asia/Tokyo", "ja-JP"), ("Lagos", "Africa/Lagos", "en-NG"),
          ("Berlin", "Europe/Berlin", "de-DE"), ("São Paulo", "America/Sao_Paulo", "pt-BR")]
PLANS = ["free", "starter", "pro", "enterprise"]


@dataclass(frozen=True)
class DemoInfo:
    slug: str
    email: str
    password: str
    api_key: str
    write_key: str


async def seed_demo(db: Database, *, slug: str, customers: int, console: Console) -> DemoInfo:
    password = secrets.token_urlsafe(12)
    async with db.session() as session:
        workspace = await workspace_repo.workspace_by_slug(session, slug)
        fresh = workspace is None
        if workspace is None:
            workspace = await create_workspace(session, schemas.WorkspaceCreate(
                slug=slug, name="Demo Outfitters", timezone="Europe/London"))
        service = WorkspaceService(session, workspace.id)
        email = f"admin@{slug}.example"
        admin = await service.users.by_email(email)
        if admin is None:
            await service.create_user(schemas.UserCreate(
                email=email, name="Demo Admin", role=Role.ADMIN, password=password))
            await _seed_team(service, slug)
        else:
            await service.update_user(admin.id, schemas.UserUpdate(
                password=password, is_active=True, role=Role.ADMIN))
        _, api_key = await service.create_api_key(schemas.ApiKeyCreate(name="demo"))
        write_key = await _website_write_key(service)
        if fresh:
            visitors = await _seed_customers(session, service.workspace_id, customers, console)
            source = await source_for_write_key(session, write_key)
            await seed_trails(session, source, visitors, random.Random(20261124))  # noqa: S311
        await session.commit()
    return DemoInfo(slug, email, password, api_key, write_key)


async def _website_write_key(service: WorkspaceService) -> str:
    """The demo website's write key (created once; shown again, as web keys are)."""
    sources, _ = await service.list_sources(None, 50)
    existing = next((s for s in sources if s.name == "Website" and s.revoked_at is None), None)
    if existing is not None:
        return reveal_write_key(existing)
    _, key = await service.create_source(schemas.SourceCreate(
        name="Website", kind=schemas.SourceKind.WEBSITE))
    return key


async def _seed_team(service: WorkspaceService, slug: str) -> None:
    team = await service.create_team(schemas.TeamCreate(name="Tier 1 support"))
    for n, name in enumerate(("Sam Rivera", "Lee Okoye")):
        agent = await service.create_user(schemas.UserCreate(
            email=f"agent{n + 1}@{slug}.example", name=name, role=Role.AGENT))
        await service.add_team_member(team.id, agent.id)


async def _seed_customers(session: AsyncSession, workspace_id: uuid.UUID, count: int,
                          console: Console) -> list[Visitor]:
    rng = random.Random(20261122)  # the same demo every time  # noqa: S311 - not security
    service = CustomerService(session, workspace_id)
    visitors = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("sample customers", total=count)
        for n in range(count):
            visitors.append(await _seed_one(service, rng, n))
            progress.advance(task)
    return visitors


async def _seed_one(service: CustomerService, rng: random.Random, n: int) -> Visitor:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, timezone, locale = rng.choice(PLACES)
    handle = f"{first}.{last}{n}".lower()
    identities = [
        normalise(IdentityKind.EMAIL, f"{handle}@example.com"),
        normalise(IdentityKind.EXTERNAL_ID, f"user-{1000 + n}"),
        normalise(IdentityKind.ANONYMOUS_ID, f"anon-{rng.getrandbits(64):016x}"),
    ]
    if n % 3 == 0:
        # +44 20 7946 0xxx is reserved by Ofcom for drama: valid-looking, never anyone's.
        identities.append(normalise(IdentityKind.PHONE, f"+44207946{n % 1000:04d}"))
    traits = {"first_name": first, "last_name": last, "city": city,
              "plan": rng.choice(PLANS), "lifetime_value": round(rng.uniform(0, 4000), 2)}
    customer = await service.identify(identities, traits=traits, timezone=timezone,
                                      locale=locale)
    await service.set_consent(customer.id, Decision(
        Channel.EMAIL, Purpose.TRANSACTIONAL, ConsentStatus.GRANTED, "demo"))
    if rng.random() < 0.6:
        await service.set_consent(customer.id, Decision(
            Channel.EMAIL, Purpose.MARKETING, ConsentStatus.GRANTED, "web_form"))
    return Visitor(user_id=identities[1].value, anonymous_id=identities[2].value)

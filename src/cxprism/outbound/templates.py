"""Versioned templates per medium and locale, their preview, and the render context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers.service import CustomerService
from cxprism.kit.errors import NotFound, Unprocessable
from cxprism.outbound import schemas
from cxprism.outbound.models import Template
from cxprism.outbound.rendering import (
    Rendered,
    RenderError,
    TemplateParts,
    check_syntax,
    render,
)
from cxprism.outbound.repository import TemplateRepository
from cxprism.outbound.targets import Customer

# Identity kinds offered to templates by name: `{{ customer.email }}`.
_CONTACT_KINDS = ("email", "phone")


def parts_of(template: Template) -> TemplateParts:
    provider = template.provider_template or {}
    return TemplateParts(template.subject, template.text, template.html,
                         list(provider.get("parameters", [])))


def render_or_422(parts: TemplateParts, context: dict[str, Any]) -> Rendered:
    try:
        return render(parts, context)
    except RenderError as exc:
        raise Unprocessable(f"The template cannot be rendered: {exc}", code="template_error",
                            details={"part": exc.part}) from None


def locale_chain(wanted: str | None, default: str) -> list[str]:
    """``pt-BR`` -> pt-BR, pt, then the workspace default."""
    chain: list[str] = []
    if wanted:
        chain.append(wanted)
        language = wanted.split("-")[0]
        if language != wanted:
            chain.append(language)
    if default not in chain:
        chain.append(default)
    return chain


def render_context(customer: Customer | None, identities: Sequence[Any],
                   event: dict[str, Any], conversation: dict[str, Any],
                   data: dict[str, Any]) -> dict[str, Any]:
    """What a template sees: ``customer`` (traits, id, locale, timezone, email, phone),
    ``event``, ``conversation`` and ``data``."""
    profile: dict[str, Any] = {}
    if customer is not None:
        profile = {**customer.traits, "traits": dict(customer.traits), "id": str(customer.id),
                   "locale": customer.locale, "timezone": customer.timezone}
        for identity in identities:
            if identity.kind in _CONTACT_KINDS:
                profile.setdefault(identity.kind, identity.value)
    return {"customer": profile, "event": event, "conversation": conversation, "data": data}


class TemplateService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor: str | None = None) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.actor = actor
        self.templates = TemplateRepository(session, workspace_id)

    async def create(self, data: schemas.TemplateCreate) -> Template:
        provider = data.provider_template.model_dump() if data.provider_template else None
        parts = TemplateParts(data.subject, data.text, data.html,
                              list(provider["parameters"]) if provider else [])
        if not (data.text.strip() or data.html or provider):
            raise Unprocessable("A template needs text, html or a provider template.",
                                details={"field": "text"})
        if data.medium == "email" and not data.subject:
            raise Unprocessable("An email template needs a subject.",
                                details={"field": "subject"})
        try:
            check_syntax(parts)
        except RenderError as exc:
            raise Unprocessable(f"The template does not compile: {exc}", code="template_error",
                                details={"part": exc.part}) from None
        version = await self.templates.latest_version(data.name, data.medium, data.locale) + 1
        template = self.templates.add(Template(
            name=data.name, medium=data.medium.value, locale=data.locale,
            version=version, subject=data.subject, text=data.text, html=data.html,
            provider_template=provider, description=data.description, created_by=self.actor))
        await self.templates.flush()
        return template

    async def get(self, template_id: uuid.UUID) -> Template:
        template = await self.templates.get(template_id)
        if template is None:
            raise NotFound("Template not found.", details={"template_id": str(template_id)})
        return template

    async def listing(self, name: str | None = None) -> list[Template]:
        return await self.templates.listing(name)

    async def preview(self, template_id: uuid.UUID, data: schemas.PreviewRequest) -> Rendered:
        template = await self.get(template_id)
        customers = CustomerService(self.session, self.workspace_id)
        customer = await customers.get(data.customer_id) if data.customer_id else None
        identities = await customers.identities_of(customer.id) if customer else []
        context = render_context(customer, identities, data.event, data.conversation,
                                 data.data)
        return render_or_422(parts_of(template), context)

    async def resolve(self, name: str, medium: str, locales: list[str],
                      version: int | None) -> Template | None:
        """The template to send: the first locale of the chain that has one; its latest
        version unless a version is pinned."""
        for locale in locales:
            versions = await self.templates.versions(name, medium, locale)
            if version is not None:
                versions = [t for t in versions if t.version == version]
            if versions:
                return versions[0]
        return None

    async def mediums(self, name: str) -> set[str]:
        return await self.templates.mediums(name)

"""Request and response bodies. Inputs forbid unknown fields, so server-owned ones can't be set."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from cxprism.kit.security import MIN_PASSWORD_LENGTH
from cxprism.kit.validation import Input, Output, Text, Timestamp, TimeZone, check_text
from cxprism.workspaces.permissions import Role

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _email(value: str) -> str:
    value = check_text(value).strip().lower()
    if not _EMAIL.match(value) or len(value) > 320:
        raise ValueError("not an email address")
    return value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("use 1-63 lowercase letters, digits and inner hyphens")
    return value


Email = Annotated[str, AfterValidator(_email)]
Slug = Annotated[str, AfterValidator(_slug)]
Name = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Password = Annotated[Text, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
Description = Annotated[Text, StringConstraints(max_length=1000)]


class WorkspaceCreate(Input):
    slug: Slug
    name: Name
    timezone: TimeZone = "UTC"


class WorkspaceUpdate(Input):
    name: Name | None = None
    timezone: TimeZone | None = None


class WorkspaceOut(Output):
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    created_at: datetime


class UserCreate(Input):
    email: Email
    name: Name
    role: Role
    password: Password | None = Field(
        default=None, description="Omit for a user who cannot sign in to the web UI yet.")


class UserUpdate(Input):
    name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None
    password: Password | None = None


class UserOut(Output):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class TeamCreate(Input):
    name: Name
    description: Description = ""


class TeamUpdate(Input):
    name: Name | None = None
    description: Description | None = None


class TeamOut(Output):
    id: uuid.UUID
    name: str
    description: str
    member_ids: list[uuid.UUID] = []
    created_at: datetime


class TeamMemberAdd(Input):
    user_id: uuid.UUID


class ApiKeyCreate(Input):
    name: Name
    role: Role = Role.ADMIN
    expires_at: Timestamp | None = None


class ApiKeyOut(Output):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str = Field(description="The visible start of the key, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="Shown once; store it now. cxprism keeps only its hash.")


class SourceKind(StrEnum):
    WEBSITE = "website"
    APP = "app"
    SERVER = "server"


class SourceCreate(Input):
    name: Name
    kind: SourceKind


class SourceOut(Output):
    id: uuid.UUID
    name: str
    kind: SourceKind
    write_key: str
    created_at: datetime
    revoked_at: datetime | None

"""Other domains' personal data about a customer, for export and erasure.

A domain that keeps data about a person under their identities (tracked events under
user and anonymous ids, for example) registers a holder. Exports include each holder's
part; an erasure asks each holder to delete its part in the same transaction, before the
identities that lead to it are deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers.identities import Identity


class PersonalDataHolder(Protocol):
    name: str

    async def export(self, session: AsyncSession, workspace_id: uuid.UUID,
                     identities: Sequence[Identity]) -> Any: ...

    async def erase(self, session: AsyncSession, workspace_id: uuid.UUID,
                    identities: Sequence[Identity]) -> None: ...


_holders: dict[str, PersonalDataHolder] = {}


def register(holder: PersonalDataHolder) -> PersonalDataHolder:
    _holders[holder.name] = holder  # registering again (a re-import) replaces it
    return holder


def holders() -> list[PersonalDataHolder]:
    return [_holders[name] for name in sorted(_holders)]

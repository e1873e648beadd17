"""Data-subject requests (export, erasure), suppression and per-customer data keys.

Crypto-shredding: personal data that other records commit to (ledger, transcripts) is
encrypted with the customer's own AES key, kept wrapped by a master key derived from the
settings' secret. Erasure destroys the wrapped key, so every copy becomes unreadable without
rewriting anything that commits to it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, Exists

from cxprism.config import get_settings
from cxprism.customers import holders, schemas
from cxprism.customers.identities import Identity, IdentityKind
from cxprism.customers.models import (
    Customer,
    CustomerDataKey,
    DataSubjectRequest,
    Suppression,
)
from cxprism.customers.repository import (
    PrivacyRepository,
    any_suppression_in,
    any_suppression_sql,
)
from cxprism.kit import crypto, idempotency
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Gone, NotFound

if TYPE_CHECKING:
    from cxprism.customers.service import CustomerService

OWNER_BYTES = 16


def _master_key() -> bytes:
    return crypto.derive_key(get_settings().secret_key.get_secret_value(), "customers")


def _suppression_key() -> bytes:
    return crypto.derive_key(get_settings().secret_key.get_secret_value(), "customers-suppression")


def suppression_digest(workspace_id: uuid.UUID, identity: Identity) -> str:
    """A keyed hash: without the server's secret, a digest cannot be tested against guesses."""
    message = "\x1f".join((str(workspace_id), identity.kind.value, identity.namespace,
                           identity.value))
    return hmac.new(_suppression_key(), message.encode(), hashlib.sha256).hexdigest()


class PrivacyService:
    def __init__(self, customers: CustomerService) -> None:
        self.customers = customers
        self.workspace_id = customers.workspace_id
        self.repo = PrivacyRepository(customers.session, customers.workspace_id)

    # Suppression -----------------------------------------------------------------------

    async def refuse_suppressed(self, identities: Sequence[Identity]) -> None:
        digests = [suppression_digest(self.workspace_id, i) for i in identities]
        if digests and await self.repo.suppressed(digests):
            raise Gone("This person asked to be erased and not profiled again; data for "
                       "their identities is dropped.", code="suppressed")

    async def any_suppressed(self) -> bool:
        return await self.repo.any_suppression()

    async def suppressed_among(self, identities: Sequence[Identity], *,
                               known_any: bool = False) -> set[Identity]:
        """Which of these identities belong to people erased with suppression.

        ``known_any``: the caller has just seen that the workspace holds suppressions (see
        :func:`any_suppressed_clause`), so that is not asked again."""
        if not identities or not (known_any or await self.repo.any_suppression()):
            return set()
        digests = {suppression_digest(self.workspace_id, i): i for i in identities}
        return {digests[d] for d in await self.repo.existing_suppressions(sorted(digests))}

    # Data keys -------------------------------------------------------------------------

    async def encrypt_for(self, customer_id: uuid.UUID, plaintext: bytes) -> bytes:
        """Ciphertext under the live profile's key, prefixed by that key's owner id."""
        customer = await self.customers.get(customer_id)
        owner = customer.id
        record = await self.repo.data_key(owner)
        if record is None:
            data_key = crypto.new_data_key()
            self.repo.add_row(CustomerDataKey(
                customer_id=owner, wrapped_key=crypto.wrap_key(
                    _master_key(), data_key, self._key_owner(owner))))
            await self.repo.flush()
        else:
            data_key = self._unwrap(record)
        return owner.bytes + crypto.encrypt(data_key, plaintext, owner.bytes)

    async def decrypt_for(self, ciphertext: bytes) -> bytes:
        """Plaintext, or 410 once the owner was erased (its key is gone for good).

        Data encrypted for a profile later merged away still decrypts: merged-away profiles
        keep their keys until the live profile they joined is erased.
        """
        owner = uuid.UUID(bytes=ciphertext[:OWNER_BYTES])
        record = await self.repo.data_key(owner)
        if record is None:
            raise NotFound("No data key for this ciphertext in this workspace.")
        return crypto.decrypt(self._unwrap(record), ciphertext[OWNER_BYTES:], owner.bytes)

    def _key_owner(self, customer_id: uuid.UUID) -> str:
        return f"{self.workspace_id}:{customer_id}"

    def _unwrap(self, record: CustomerDataKey) -> bytes:
        if record.wrapped_key is None:
            raise Gone("The customer was erased; their data key was destroyed.",
                       code="customer_erased")
        return crypto.unwrap_key(_master_key(), record.wrapped_key,
                                 self._key_owner(record.customer_id))

    # Export ----------------------------------------------------------------------------

    async def export(self, customer_id: uuid.UUID) -> dict[str, Any]:
        customer = await self.customers.get(customer_id)
        lineage = await self.customers.customers.merged_into(customer.id)
        request = self._request(customer, "export", suppress=False)
        await self.repo.flush()
        current, history = await self.customers.list_consent(customer.id, history=True)
        identities = await self.customers.identities_of(customer.id)
        requests = await self.repo.requests_of([customer.id, *(c.id for c in lineage)])
        held = {holder.name: await holder.export(
            self.customers.session, self.workspace_id, _as_identities(identities))
            for holder in holders.holders()}
        self.customers.event("customer.exported", {
            "customer_id": str(customer.id), "request_id": str(request.id)})
        return {
            "exported_at": utcnow().isoformat(),
            "request_id": str(request.id),
            "customer": {
                "id": str(customer.id), "traits": customer.traits,
                "timezone": customer.timezone, "locale": customer.locale,
                "created_at": customer.created_at.isoformat(),
                "updated_at": customer.updated_at.isoformat()},
            "identities": [schemas.IdentityOut.model_validate(i).model_dump(mode="json")
                           for i in identities],
            "consent": {
                "current": [schemas.ConsentOut.model_validate(c).model_dump(mode="json")
                            for c in current],
                "history": [schemas.ConsentEventOut.model_validate(e).model_dump(mode="json")
                            for e in history or []]},
            "merged_from": [{"id": str(c.id), "created_at": c.created_at.isoformat(),
                             "merged_at": c.merged_at.isoformat() if c.merged_at else None}
                            for c in lineage],
            **held,
            "data_subject_requests": [
                schemas.DataSubjectRequestOut.model_validate(r).model_dump(mode="json")
                for r in requests],
        }

    # Erasure ---------------------------------------------------------------------------

    async def erase(self, customer_id: uuid.UUID, suppress: bool) -> DataSubjectRequest:
        """Remove the person's data; keep a tombstone row and this request as the record.

        Erasing any id of a merged profile erases the live profile and every profile merged
        into it (they are the same person). Consent history stays, pseudonymous (it names
        no identity, and its sources are tokens): it proves what was lawful before. Stored
        Idempotency-Key responses that mention any of the person's profile ids are deleted,
        so reusing such a key is processed as a new request instead of replaying their data.

        Racing a merge: whichever commits first, the person's data ends unreadable. If the
        merge took ``customer_id`` into another profile first, the lock re-resolves to that
        profile and erases it whole (the merge said they are one person); if the erasure
        locks first, the merge then finds the profile erased and answers 410.
        """
        [customer] = await self.customers.lock_live_roots([customer_id])
        lineage = [customer, *await self.customers.customers.merged_into(customer.id)]
        ids = [c.id for c in lineage]
        request = self._request(customer, "erase", suppress=suppress)
        await self.repo.flush()
        identities = await self.customers.identities_of(customer.id)
        if suppress:
            await self._suppress(identities, request.id)
        for holder in holders.holders():  # their data goes before the ids that lead to it
            await holder.erase(self.customers.session, self.workspace_id, _as_identities(
                identities))
        await self.customers.identities.delete_of(ids)
        await self.customers.consents.repo.delete_current(ids)
        now = utcnow()
        await self.repo.destroy_keys(ids, now)
        # Stored Idempotency-Key responses naming the person would replay their data.
        await idempotency.forget_responses_mentioning(
            self.customers.session, self.workspace_id, [str(i) for i in ids],
            get_settings().secret_key.get_secret_value())
        for profile in lineage:
            profile.traits, profile.trait_updated_at = {}, {}
            profile.timezone = profile.locale = None
            profile.erased_at = now
        await self.repo.flush()
        self.customers.event("customer.erased", {
            "customer_id": str(customer.id), "merged_ids": [str(i) for i in ids[1:]],
            "request_id": str(request.id), "suppress": suppress})
        return request

    async def _suppress(self, identities: Sequence[Any], request_id: uuid.UUID) -> None:
        digests = {suppression_digest(self.workspace_id, i) for i in _as_identities(identities)}
        known = await self.repo.existing_suppressions(sorted(digests))
        for digest in sorted(digests - known):
            self.repo.add_row(Suppression(digest=digest, request_id=request_id))

    def _request(self, customer: Customer, kind: str, suppress: bool) -> DataSubjectRequest:
        now = utcnow()
        request = DataSubjectRequest(
            customer_id=customer.id, kind=kind, status="completed", suppress=suppress,
            requested_by=self.customers.actor_id, created_at=now, completed_at=now)
        self.repo.add(request)
        return request


def _as_identities(rows: Sequence[Any]) -> list[Identity]:
    return [Identity(IdentityKind(r.kind), r.namespace, r.value) for r in rows]


def any_suppressed_clause(workspace_id: uuid.UUID | BindParameter[Any]) -> Exists:
    """:meth:`PrivacyService.any_suppressed` as a clause, for a caller asking more in one
    statement; a bound parameter lets that caller build its statement once."""
    return any_suppression_in(workspace_id)


def any_suppressed_sql(workspace_id: str) -> str:
    """The same as PostgreSQL text, ``workspace_id`` the caller's SQL for a uuid."""
    return any_suppression_sql(workspace_id)

"""Normalisation: pure, so tested exhaustively with generated input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxprism.customers.identities import IdentityKind, InvalidIdentity, normalise

local = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
                min_size=1, max_size=30)
domain = st.from_regex(r"[a-zA-Z0-9-]{1,20}\.[a-zA-Z]{2,6}", fullmatch=True)
spaces = st.text(alphabet=" \t\n", max_size=3)


@given(local, domain, spaces, spaces)
def test_email_is_trimmed_lowercased_and_idempotent(user: str, host: str, left: str,
                                                    right: str) -> None:
    result = normalise("email", f"{left}{user}@{host}{right}")
    assert result.value == f"{user}@{host}".lower()
    assert normalise("email", result.value) == result  # a fixed point
    assert normalise("email", result.value.upper()) == result


@pytest.mark.parametrize("bad", ["", "ann", "ann@", "@example.com", "a b@example.com",
                                 "ann@example", "ann@@example.com", "a@x." + "c" * 400])
def test_bad_emails_are_refused(bad: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise("email", bad)


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("+44 20 7946 0018", None, "+442079460018"),
    ("020 7946 0018", "GB", "+442079460018"),
    ("020 7946 0018", "gb", "+442079460018"),
    ("(415) 555-2671", "US", "+14155552671"),
    ("+1-415-555-2671", "FR", "+14155552671"),  # an explicit + wins over the region
    ("06 12 34 56 78", "FR", "+33612345678"),
])
def test_phones_become_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalise("phone", raw, default_region=region).value == e164


@pytest.mark.parametrize(("raw", "region", "says"), [
    ("020 7946 0018", None, "+<country code>"),
    ("+1 555 0100", None, "not a valid"),
    ("12", "US", "phone number"),
    ("hello", "GB", "phone number"),
    ("020 7946 0018", "GBR", "ISO 3166"),
])
def test_bad_phones_say_what_is_wrong(raw: str, region: str | None, says: str) -> None:
    with pytest.raises(InvalidIdentity, match=says.replace("+", r"\+")):
        normalise("phone", raw, default_region=region)


@given(st.sampled_from([IdentityKind.EXTERNAL_ID, IdentityKind.ANONYMOUS_ID,
                        IdentityKind.WEBCHAT_VISITOR_ID]),
       st.text(alphabet=st.characters(categories=("L", "N", "P", "S")),
               min_size=1, max_size=255), spaces, spaces)
def test_opaque_ids_are_trimmed_and_keep_case(kind: IdentityKind, value: str, left: str,
                                              right: str) -> None:
    result = normalise(kind, f"{left}{value}{right}")
    assert result.value == value.strip()
    assert result.namespace == ""


@pytest.mark.parametrize("bad", ["", "   ", "x" * 256, "a\x00b"])
def test_bad_opaque_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise("external_id", bad)


@given(st.from_regex(r"[a-z0-9_]{1,30}", fullmatch=True), st.sampled_from(["@", ""]),
       st.sampled_from(["twitter", "Twitter", " TWITTER "]))
def test_social_handles(handle: str, at: str, network: str) -> None:
    result = normalise("social", f"{at}{handle.upper()}", network)
    assert (result.namespace, result.value) == ("twitter", handle)


def test_namespace_rules() -> None:
    with pytest.raises(InvalidIdentity, match="namespace"):
        normalise("social", "ann")
    with pytest.raises(InvalidIdentity, match="only for social"):
        normalise("email", "a@b.co", "twitter")
    with pytest.raises(InvalidIdentity, match="unknown identity kind"):
        normalise("fax", "1")

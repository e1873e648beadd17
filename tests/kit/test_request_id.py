"""Made-up request ids: unique, sane, not a visible count, and a forked process's own."""

from __future__ import annotations

import os

from cxprism.kit.asgi import request_id_of
from cxprism.kit.request_id import SANE_REQUEST_ID, new_request_id


def test_made_up_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 and SANE_REQUEST_ID.match(i) for i in ids)


def test_consecutive_ids_do_not_show_a_count() -> None:
    """A client that gets two ids must not learn how many requests came in between."""
    first, second = new_request_id(), new_request_id()
    differing_digits = sum(a != b for a, b in zip(first, second, strict=True))
    assert differing_digits > 8  # a count shows as a few low digits changing


def test_a_forked_process_makes_ids_of_its_own() -> None:
    """uvicorn's worker processes and the job runner fork: a child that kept its parent's
    prefix and count would hand out the parent's next ids."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = new_request_id()
    assert len(child) == 32
    assert child != parent


def test_an_offered_id_with_a_trailing_newline_is_replaced() -> None:
    """``$`` matches before a final newline: an id ending in one would be echoed into the
    answer's head, where a newline ends the header."""
    assert request_id_of({"x-request-id": "ticket-1\n"}) != "ticket-1\n"
    assert request_id_of({"x-request-id": "ticket-1"}) == "ticket-1"

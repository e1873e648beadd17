from __future__ import annotations

from tests.fixtures.fake_meta import fake_meta

__all__ = ["fake_meta"]

from __future__ import annotations

from tests.fixtures.fake_twilio import fake_twilio

__all__ = ["fake_twilio"]

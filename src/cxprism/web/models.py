"""Failed sign-in counters, for throttling password guessing.

Not tenant-owned: an attempt may name a workspace that does not exist, and the counters
must not reveal which ones do. Keys are SHA-256 digests, so the table holds no e-mail
addresses or IP addresses in the clear.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.models import Base


class LoginAttempt(Base):
    """Failures for one key (an account or a client address) in one fixed time window."""

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Window number (seconds since the epoch // window length); old ones are purged.
    bucket: Mapped[int] = mapped_column(primary_key=True, index=True)
    failures: Mapped[int] = mapped_column(default=0)

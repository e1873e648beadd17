"""An email channel's configuration: the inbox it receives for and the relay it sends by."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cxprism.channels.email.headers import check_header_value, normalise_address

MIB = 1024 * 1024


class EmailConfig(BaseModel):
    """Validated once when a channel is connected; ``smtp_password`` is stored encrypted.

    ``smtp_password`` is a plain ``str`` rather than ``SecretStr`` because the channels
    service dumps configurations with ``model_dump(mode="json")`` to encrypt the secret
    fields, which would turn a ``SecretStr`` into asterisks; ``repr=False`` keeps it out of
    logs and tracebacks instead.
    """

    model_config = ConfigDict(extra="forbid")

    address: str = Field(description="The inbox address customers write to.")
    from_name: str | None = Field(default=None, max_length=200)
    smtp_host: str = Field(min_length=1, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = Field(default=None, max_length=512)
    smtp_password: str | None = Field(default=None, max_length=512, repr=False)
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    max_attachment_bytes: int = Field(default=10 * MIB, ge=1, le=25 * MIB)
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        address = normalise_address(value, "address")
        if "+" in address.partition("@")[0]:
            # Plus-addresses of the inbox carry reply tokens; the inbox itself has none.
            raise ValueError("the inbox address must not contain '+'")
        return address

    @field_validator("from_name", "smtp_host", "smtp_username", "smtp_password")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # These end up in headers or SMTP commands, where a line break starts a new one.
        return None if value is None else check_header_value("value", value)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

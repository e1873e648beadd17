"""Imports every domain's models so the metadata Alembic sees is complete."""

from cxprism.bus import models as bus_models
from cxprism.channels import models as channels_models
from cxprism.conversations import models as conversations_models
from cxprism.customers import models as customers_models
from cxprism.kit import idempotency, sequences
from cxprism.kit.models import Base
from cxprism.ledger import models as ledger_models
from cxprism.outbound import models as outbound_models
from cxprism.scheduler import models as scheduler_models
from cxprism.tracking import models as tracking_models
from cxprism.web import models as web_models
from cxprism.webhooks import models as webhooks_models
from cxprism.workspaces import models as workspaces_models

__all__ = [
    "Base", "bus_models", "channels_models", "conversations_models",
    "customers_models", "idempotency", "ledger_models", "outbound_models", "scheduler_models",
    "sequences",
    "tracking_models", "web_models", "webhooks_models", "workspaces_models",
]

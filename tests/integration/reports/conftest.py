from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.reports import ReportService
from fleetdeck.core.secrets import SecretBox
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork
from tests.conftest import SECRET


@pytest.fixture
def reports(runtime: Runtime) -> ReportService:
    return runtime.services.reports


@pytest.fixture
def world(runtime: Runtime, admin: Actor) -> Actor:
    """Secrets in every place a report must not reach: a user password hash (admin), an API
    token, an enrollment token, an agent key, and a secret setting."""
    runtime.services.users.create_token(admin, "ci", "read", None)
    runtime.services.enrollment.create_token(admin, expires_in=None, max_uses=None, note="n")
    created = runtime.services.computers.create(admin, "web-1")
    box = SecretBox(SECRET)
    with UnitOfWork(runtime.db) as uow:
        c = uow.session.get(Computer, created.id)
        assert c is not None
        c.agent_key_enc = box.encrypt("agent-key")
        c.agent_key_hash = box.keyed_hash("agent-key")
    runtime.services.settings.set(admin, "oco.api_key", "the-api-key")
    return admin

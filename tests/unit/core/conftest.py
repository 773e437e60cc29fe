"""The world most of core's unit tests share: core's services on the test database, with a
clock the test moves (``clock.now = T0 + ...``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from tests.conftest import SECRET
from tests.factories import ManualClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services on a test clock, with payloads under the test's data directory. (A test
    module may define its own ``clock`` or ``svc``; pytest then uses that one.)"""
    return build_services(
        runtime.db, SECRET, CoreConfig(payload_dir=settings.data_dir / "payloads"), clock=clock
    )

"""The web UI's session store: bounded, idle and absolute expiry, ids never reused."""

from __future__ import annotations

import time

from fleetdeck.core.users.entities import Credential
from fleetdeck.web.sessions import Sessions, same_token


def test_sessions_expire_when_idle_and_at_their_end() -> None:
    store = Sessions(lifetime_sec=1.0, idle_sec=0.5)
    start = time.monotonic()
    idle = store.create(Credential(1, 1))
    busy = store.create(Credential(2, 1))
    while (elapsed := time.monotonic() - start) < 0.9:  # used every 0.15 s: idle expiry moves on
        assert store.get(busy.id) is busy, f"ended after {elapsed:.2f} s"
        time.sleep(0.15)
    assert store.get(idle.id) is None  # more than 0.5 s without use
    time.sleep(max(0.0, 1.05 - (time.monotonic() - start)))
    assert store.get(busy.id) is None  # used within its idle time, but past its end
    assert len(store) == 0


def test_the_store_is_bounded_and_drops_the_least_recently_used() -> None:
    store = Sessions(lifetime_sec=60, max_sessions=2)
    a, b = store.create(Credential(1, 1)), store.create(Credential(2, 1))
    assert store.get(a.id) is a  # a is now the most recent
    c = store.create(Credential(3, 1))
    assert store.get(b.id) is None
    assert store.get(a.id) is a
    assert store.get(c.id) is c


def test_a_new_credential_gets_a_new_session_id() -> None:
    store = Sessions(lifetime_sec=60)
    old = store.create(Credential(1, 1))
    new = store.replace_credential(old, Credential(1, 2))
    assert new.id != old.id
    assert new.csrf != old.csrf
    assert store.get(old.id) is None
    assert store.get(new.id) is new


def test_tokens_compare_only_when_both_are_there() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("abc", None)
    assert not same_token("", "")

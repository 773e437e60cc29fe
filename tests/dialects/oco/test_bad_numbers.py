"""Hostile numbers and strings in OCO requests are refused at the edge in OCO's format, never
"Unknown Error" from the database or a 500 (ordinary loose input is test_loose_input.py)."""

from __future__ import annotations

import pytest

from tests.dialects.oco.conftest import Oco

BIG = 2**63  # one beyond a 64-bit column
# An id beyond 64 bits names no row: OCO's lookup finds nothing, so "Not found" (issue #14).
ID_CASES = [
    ("oco.computer.get", {"id": BIG}),
    ("oco.computer.get", {"id": -BIG - 1}),
    ("oco.package.get", {"id": BIG}),
    ("oco.computer.add_to_group", {"computer_id": BIG, "computer_group_id": 1}),
    ("oco.computer.add_to_group", {"computer_id": 1, "computer_group_id": BIG}),
    ("oco.report.execute", {"id": BIG}),
]
# A list of ids skips the ones that name no row, as OCO skips unknown ids: nothing is left.
SKIPPED_CASES = [
    ("oco.job_container.deploy", {"name": "x", "computer_ids": [BIG], "package_ids": [1]}),
    ("oco.job_container.uninstall", {"name": "x", "installation_ids": [BIG]}),
]
# Numbers OCO stores keep their range: a value no column holds is "Invalid Value".
CASES = [
    (
        "oco.job_container.deploy",
        {"name": "x", "computer_ids": [1], "package_ids": [1], "restart_timeout": BIG},
    ),
    (
        "oco.package.create",
        {"package_family_name": "f", "version": "1", "install_procedure": "x", "license_count": BIG},
    ),
]


@pytest.mark.parametrize(("method", "data"), ID_CASES)
def test_ids_beyond_64_bits_are_not_found(oco: Oco, method: str, data: dict[str, object]) -> None:
    assert oco.error(method, data) == {"code": -32003, "message": "Not found", "data": None}


@pytest.mark.parametrize(("method", "data"), SKIPPED_CASES)
def test_ids_beyond_64_bits_in_a_list_are_skipped(oco: Oco, method: str, data: dict[str, object]) -> None:
    error = oco.error(method, data)
    assert error["code"] == -32001, error
    assert error["message"].startswith("Your request did not produced any jobs.")


@pytest.mark.parametrize(("method", "data"), CASES)
def test_integers_beyond_64_bits_are_invalid_input(oco: Oco, method: str, data: dict[str, object]) -> None:
    error = oco.error(method, data)
    assert error["code"] == -32001, error
    assert error["message"].startswith("Invalid Value. Please check your input.")


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"oco.computer.get","params":{"data":{"id":1e400}}}',
        b'{"jsonrpc":"2.0","id":1e400,"method":"oco.info","params":{}}',
        b'{"jsonrpc":"2.0","id":NaN,"method":"oco.info","params":{}}',
        b'{"jsonrpc":"2.0","id":1,"method":"oco.info","params":{"api_key":"\\ud800"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"oco.info","params":{"\\udfff":1}}',
    ],
)
def test_numbers_and_strings_json_cannot_carry_are_payload_corrupt(oco: Oco, body: bytes) -> None:
    r = oco.post(None, content=body)
    assert (r.status_code, r.content) == (400, b"")


def test_a_batch_too_large_is_refused_before_anything_runs(oco: Oco) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "oco.computer.create"} for i in range(10_000)]
    batch.append(oco.request("oco.computer.create", {"hostname": "B1"}))
    r = oco.post(batch)
    assert (r.status_code, r.content) == (400, b"")
    assert oco.ok("oco.computer.list")["computers"] == []


@pytest.mark.parametrize("hostname", ["PC\x00ONE", "PC\nTWO", "PC\x1b[31m", "PC\u200bZW", "PC\u2028X"])
def test_host_names_with_control_characters_are_refused(oco: Oco, hostname: str) -> None:
    error = oco.error("oco.computer.create", {"hostname": hostname})
    assert error["code"] == -32001 and "control characters" in error["message"]
    assert oco.ok("oco.computer.list")["computers"] == []

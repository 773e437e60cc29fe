"""Streaming payload uploads: PUT (raw body), POST (multipart, parsed as it streams), and the
resumable ``/uploads`` protocol (Upload-Offset / Content-Range, HEAD after a drop)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from typing import Any

from fleetdeck.app import Runtime
from tests.integration.api.conftest import Api, assert_error
from tests.integration.api.test_packages_api import make_package

RAW = {"content-type": "application/octet-stream"}
PIECE = {"content-type": "application/offset+octet-stream"}


def a_zip(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("install.sh", b"echo hi\n")
        zf.writestr("blob.bin", os.urandom(size))
    return buffer.getvalue()


def chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def audit_actions(api: Api) -> list[str]:
    rows = api.get("/audit", params={"filter[object_type]": "payload_upload", "sort": "id"}).json()["data"]
    return [f"{r['action']}:{r['result']}" for r in rows]


def test_put_streams_a_zip_into_the_package_and_audits_it(admin_api: Api) -> None:
    p = make_package(admin_api)
    data = a_zip(3 * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    r = admin_api.put(
        f"/packages/{p['id']}/payload", content=chunks(data), headers={**RAW, "X-Payload-SHA256": sha}
    )
    assert r.status_code == 200, r.text
    up = r.json()["data"]
    assert (up["complete"], up["sha256"], up["length"], up["offset"]) == (True, sha, len(data), len(data))
    pkg = admin_api.get(f"/packages/{p['id']}").json()["data"]
    assert (pkg["payload_sha256"], pkg["payload_size"]) == (sha, len(data))
    assert admin_api.get(f"/packages/{p['id']}/payload").content == data
    assert audit_actions(admin_api) == ["payload_upload.create:ok", "payload_upload.complete:ok"]


def test_put_of_a_file_that_is_no_zip_wraps_it_under_its_name(admin_api: Api) -> None:
    p = make_package(admin_api)
    r = admin_api.put(f"/packages/{p['id']}/payload?filename=setup.exe", content=b"MZ" * 1000, headers=RAW)
    assert r.status_code == 200, r.text
    body = admin_api.get(f"/packages/{p['id']}/payload").content
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.read("setup.exe") == b"MZ" * 1000
    assert r.json()["data"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_wrong_announced_hash_is_refused_and_the_old_payload_stays(admin_api: Api) -> None:
    p = make_package(admin_api, files=[{"name": "a.sh", "content": "ZWNobw=="}])
    r = admin_api.put(
        f"/packages/{p['id']}/payload", content=a_zip(10), headers={**RAW, "X-Payload-SHA256": "0" * 64}
    )
    assert assert_error(r, 422, "validation_failed")["detail"]["field"] == "sha256"
    assert admin_api.get(f"/packages/{p['id']}").json()["data"]["payload_sha256"] == p["payload_sha256"]
    assert admin_api.get(f"/packages/{p['id']}/uploads").json()["data"] == []  # abandoned


def test_multipart_post_streams_the_file_part(admin_api: Api) -> None:
    p = make_package(admin_api)
    data = a_zip(2 * 1024 * 1024)
    r = admin_api.post(
        f"/packages/{p['id']}/payload",
        data={"note": "x"},
        files={"file": ("tool.zip", data, "application/zip")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert r.json()["data"]["filename"] == "tool.zip"
    assert admin_api.get(f"/packages/{p['id']}/payload").content == data
    missing = admin_api.post(f"/packages/{p['id']}/payload", files={"other": ("x", b"y")})
    assert assert_error(missing, 422)["detail"]["field"] == "file"


def test_resumable_upload_in_pieces_with_both_offset_headers(admin_api: Api) -> None:
    p = make_package(admin_api)
    data = a_zip(1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    r = admin_api.post("/uploads", json={"package_id": p["id"], "length": len(data), "sha256": sha})
    assert r.status_code == 201, r.text
    up = r.json()["data"]
    assert r.headers["location"] == f"/api/v1/uploads/{up['id']}" and up["offset"] == 0
    url = f"/uploads/{up['id']}"
    third = len(data) // 3
    r = admin_api.patch(url, content=data[:third], headers={**PIECE, "Upload-Offset": "0"})
    assert r.status_code == 204 and r.headers["upload-offset"] == str(third)
    head = admin_api.request("HEAD", url)
    assert head.headers["upload-offset"] == str(third) and head.headers["upload-length"] == str(len(data))
    # a piece sent at the wrong offset: 409 with where the upload stands
    wrong = admin_api.patch(url, content=data[:10], headers={**PIECE, "Upload-Offset": "5"})
    assert assert_error(wrong, 409, "conflict")["detail"]["offset"] == third
    end = 2 * third
    r = admin_api.patch(
        url,
        content=data[third:end],
        headers={**PIECE, "Content-Range": f"bytes {third}-{end - 1}/{len(data)}"},
    )
    assert r.status_code == 204 and r.headers["upload-offset"] == str(end)
    r = admin_api.patch(url, content=data[end:], headers={**PIECE, "Upload-Offset": str(end)})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["complete"] and r.json()["data"]["sha256"] == sha
    assert admin_api.get(f"/packages/{p['id']}/payload").content == data
    done = admin_api.patch(url, content=b"x", headers={**PIECE, "Upload-Offset": str(len(data))})
    assert_error(done, 409, "conflict")


def test_a_piece_cut_off_midway_keeps_its_bytes_and_the_hash_survives_a_restart(
    admin_api: Api, runtime: Runtime
) -> None:
    """The server side of a dropped connection: the bytes that arrived stay; the next piece
    goes on from there, also when the in-memory digest is gone (another process, a restart)."""
    p = make_package(admin_api)
    data = a_zip(300_000)
    up = admin_api.post("/uploads", json={"package_id": p["id"], "length": len(data)}).json()["data"]
    url = f"/uploads/{up['id']}"
    assert (
        admin_api.patch(url, content=data[:100_000], headers={**PIECE, "Upload-Offset": "0"}).status_code
        == 204
    )
    runtime.services.packages._digests.clear()  # as if another server process took the next piece
    r = admin_api.patch(url, content=data[100_000:], headers={**PIECE, "Upload-Offset": "100000"})
    assert r.status_code == 200 and r.json()["data"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_sizes_types_and_permissions_are_checked_before_bytes_are_kept(
    admin_api: Api, viewer_api: Api, runtime: Runtime
) -> None:
    p = make_package(admin_api)
    limit = runtime.services.packages.max_bytes
    big = admin_api.post("/uploads", json={"package_id": p["id"], "length": limit + 1})
    assert assert_error(big, 413, "too_large")["detail"]["limit"] == limit
    assert_error(admin_api.post("/uploads", json={"package_id": 999, "length": 5}), 404)
    assert_error(viewer_api.post("/uploads", json={"package_id": p["id"], "length": 5}), 403)
    assert_error(viewer_api.put(f"/packages/{p['id']}/payload", content=b"x", headers=RAW), 403)
    up = admin_api.post("/uploads", json={"package_id": p["id"], "length": 5}).json()["data"]
    url = f"/uploads/{up['id']}"
    assert_error(
        admin_api.patch(url, content=b"123456", headers={**PIECE, "Upload-Offset": "0"}), 413, "too_large"
    )
    assert_error(admin_api.patch(url, content=b"12", headers={"content-type": "application/json"}), 415)
    assert_error(admin_api.patch(url, content=b"12", headers=PIECE), 422)  # no offset
    bad_range = {**PIECE, "Content-Range": "bytes 0-1/9"}
    assert_error(admin_api.patch(url, content=b"12", headers=bad_range), 422)
    # a chunked body longer than announced is cut back to where it started
    r = admin_api.patch(url, content=iter([b"123", b"456"]), headers={**PIECE, "Upload-Offset": "0"})
    assert_error(r, 413, "too_large")
    assert admin_api.request("HEAD", url).headers["upload-offset"] == "0"
    assert admin_api.get(f"/packages/{p['id']}/uploads").json()["meta"]["count"] == 1
    assert admin_api.delete(url).status_code == 204
    assert_error(admin_api.get(url), 404)
    assert_error(admin_api.put(f"/packages/{p['id']}/payload", content=b"", headers=RAW), 422)
    assert_error(admin_api.put(f"/packages/{p['id']}/payload", json={"a": 1}), 415)


def test_the_json_limit_stays_for_json(admin_api: Api, runtime: Runtime) -> None:
    """max_body_bytes (1 MiB by default) still holds for JSON bodies, also on the upload paths."""
    p = make_package(admin_api)
    body: dict[str, Any] = {"package_id": p["id"], "length": 5, "filename": "x" * (2 * 1024 * 1024)}
    assert_error(admin_api.post("/uploads", json=body), 413, "body_too_large")

"""The opsi package reader's limits: a decompression bomb stops at the unpacked-size cap (it is
never unpacked in full), too many files and an oversized archive or control file are refused."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from fleetdeck.api.kit.opsi_package import ArchiveLimits, OpsiPackageError, discard, read_opsi_package
from tests.opsi_packages import CONTROL_TOML, build_opsi, compress, tar_bytes


def test_a_decompression_bomb_stops_at_the_cap() -> None:
    # 64 MiB of zeros compress to ~64 KiB of gzip; the cap is 1 MiB.
    zeros = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(zeros) < 200 * 1024
    data = tar_bytes(
        {
            "OPSI.tar.gz": compress(tar_bytes({"control.toml": CONTROL_TOML.encode()}), "gz"),
            "CLIENT_DATA.tar.gz": zeros,
        }
    )
    started = time.process_time()
    with pytest.raises(OpsiPackageError, match="more than the allowed size"):
        read_opsi_package(data, limits=ArchiveLimits(max_unpacked_bytes=1024 * 1024))
    # It stopped early: unpacking all 64 MiB takes far longer than this on any machine here.
    assert time.process_time() - started < 5


@pytest.mark.parametrize("archive", ["tar", "cpio"])
def test_too_many_files(archive: str) -> None:
    data = build_opsi(client={f"f{i}": b"x" for i in range(20)}, archive=archive, compression="gz")
    with pytest.raises(OpsiPackageError, match="too many files"):
        read_opsi_package(data, limits=ArchiveLimits(max_files=10))
    imp = read_opsi_package(data, limits=ArchiveLimits(max_files=23))
    assert imp.payload_file is not None and imp.payload_file.stat().st_size > 0
    discard(imp)


def test_an_oversized_archive_or_control_file() -> None:
    data = build_opsi()
    with pytest.raises(OpsiPackageError, match="larger than 100 bytes"):
        read_opsi_package(data, limits=ArchiveLimits(max_archive_bytes=100))
    with pytest.raises(OpsiPackageError, match=r"OPSI/control.toml is larger than 50 bytes"):
        read_opsi_package(data, limits=ArchiveLimits(max_control_bytes=50))


def test_the_cpio_cap_is_checked_before_reading_an_entry() -> None:
    """A cpio header may claim any size: the reader refuses before reading it."""
    header = b"070701" + b"".join(
        b"%08X" % f for f in [0, 0o100644, 0, 0, 1, 0, 0x7FFFFFFF, 0, 0, 0, 0, 8, 0]
    )
    entry = header + b"control\0" + b"\0" * ((-(110 + 8)) % 4)
    data = tar_bytes({"OPSI.cpio": entry})
    with pytest.raises(OpsiPackageError, match="more than the allowed size"):
        read_opsi_package(data, limits=ArchiveLimits(max_unpacked_bytes=1024 * 1024))


def test_compressed_files_are_stored_and_text_is_deflated() -> None:
    """Installers are compressed already: deflating them again only costs time."""
    import os
    import zipfile

    imp = read_opsi_package(
        build_opsi(client={"setup.exe": os.urandom(300_000), "setup.sh": b"echo hi\n" * 500})
    )
    assert imp.payload_file is not None
    with zipfile.ZipFile(imp.payload_file) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
        assert zf.read("setup.sh") == b"echo hi\n" * 500
    assert kinds == {"setup.exe": zipfile.ZIP_STORED, "setup.sh": zipfile.ZIP_DEFLATED}
    discard(imp)


def test_client_data_streams_to_disk_with_bounded_memory(tmp_path: Path) -> None:
    """A 48 MiB installer passes through in chunks: the reader's Python allocations stay far
    below the package's size (the whole package used to be held in memory, twice)."""
    import os
    import tracemalloc
    import zipfile

    installer = os.urandom(1024 * 1024) * 48
    path = tmp_path / "big.opsi"
    path.write_bytes(build_opsi(client={"setup.sh": b"true\n", "big.bin": installer}, compression=None))
    del installer
    spool = tmp_path / "spool"
    spool.mkdir()
    tracemalloc.start()
    try:
        imp = read_opsi_package(path, spool_dir=spool)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024 * 1024, peak
    assert imp.payload_file is not None and imp.payload_file.parent == spool
    with zipfile.ZipFile(imp.payload_file) as zf:
        assert zf.getinfo("big.bin").file_size == 48 * 1024 * 1024
    discard(imp)
    assert list(spool.iterdir()) == []


def test_a_refused_package_leaves_no_spool_file(tmp_path: Path) -> None:
    data = tar_bytes(
        {
            "OPSI.tar": tar_bytes({"control.toml": CONTROL_TOML.encode()}),
            "CLIENT_DATA.tar": tar_bytes({"a": b"1" * 5000, "b": b"2" * 5000}),
        }
    )
    with pytest.raises(OpsiPackageError, match="more than the allowed size"):
        read_opsi_package(data, limits=ArchiveLimits(max_unpacked_bytes=8000), spool_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["inner tar", "inner cpio", "outer"])
def test_a_cut_short_archive_is_a_clear_refusal(where: str) -> None:
    """Contents are read as the archive streams by, outside the member iteration: an archive
    that ends inside a file must still be an ``OpsiPackageError``, never a bare tarfile error
    (the transports would answer that with a 500)."""
    from tests.opsi_packages import cpio_bytes

    opsi = tar_bytes({"control.toml": CONTROL_TOML.encode()})
    if where == "inner tar":
        data = tar_bytes(
            {"OPSI.tar": opsi, "CLIENT_DATA.tar": tar_bytes({"setup.sh": b"x" * 100_000})[:20_000]}
        )
    elif where == "inner cpio":
        data = tar_bytes(
            {"OPSI.tar": opsi, "CLIENT_DATA.cpio": cpio_bytes({"setup.sh": b"x" * 100_000})[:20_000]}
        )
    else:
        data = tar_bytes({"OPSI.tar": opsi, "CLIENT_DATA.tar": tar_bytes({"setup.sh": b"x" * 100_000})})[
            :60_000
        ]
    with pytest.raises(OpsiPackageError, match="CLIENT_DATA"):
        read_opsi_package(data)


def test_damaged_gzip_data_is_a_clear_refusal() -> None:
    """zlib reports damaged deflate data with its own ``zlib.error`` (not an OSError): found
    here by damaging a gzip stream byte by byte until gzip itself raises it."""
    import gzip as gz
    import zlib

    inner = tar_bytes({"setup.sh": b"".join(b"line %d of the script\n" % i for i in range(3000))})
    packed = gz.compress(inner, mtime=0)
    damaged = None
    for pos in range(20, len(packed) - 20):
        candidate = packed[:pos] + bytes([packed[pos] ^ 0x55]) + packed[pos + 1 :]
        try:
            gz.decompress(candidate)
        except zlib.error:
            damaged = candidate
            break
        except (OSError, EOFError):
            continue
    assert damaged is not None
    data = tar_bytes(
        {"OPSI.tar": tar_bytes({"control.toml": CONTROL_TOML.encode()}), "CLIENT_DATA.tar.gz": damaged}
    )
    with pytest.raises(OpsiPackageError, match="CLIENT_DATA"):
        read_opsi_package(data)

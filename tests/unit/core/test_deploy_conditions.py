"""Delivery conditions (IP ranges, time frames) and the numeric job states."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetdeck.core.errors import Reason
from fleetdeck.core.jobs.conditions import (
    InvalidIpRange,
    InvalidTimeFrame,
    ip_allowed,
    parse_ip_ranges,
    parse_time_frames,
    time_allowed,
)
from fleetdeck.core.jobs.outcomes import judge, parse_codes

MONDAY_10 = datetime(2025, 1, 6, 10, 0)
TUESDAY_10 = datetime(2025, 1, 7, 10, 0)


def test_ip_ranges_parse_and_match() -> None:
    assert parse_ip_ranges(["10.0.0.7", " 10.1.0.0/16", "", "!fd00::/8"]) == [
        "10.0.0.7/32",
        "10.1.0.0/16",
        "!fd00::/8",
    ]
    for bad in ("10.0.0.0/33", "300.1.1.1", "host.example", "!"):
        with pytest.raises(InvalidIpRange) as err:
            parse_ip_ranges([bad])
        assert err.value.detail["reason"] == Reason.INVALID_IP_RANGE
    ranges = parse_ip_ranges(["10.0.0.0/8", "!10.9.0.0/16"])
    assert ip_allowed(ranges, "10.1.2.3")
    assert not ip_allowed(ranges, "10.9.2.3")
    assert not ip_allowed(ranges, "192.168.0.1")
    assert not ip_allowed(ranges, "")  # unknown address: a positive range cannot match
    assert ip_allowed(parse_ip_ranges(["!192.168.0.0/16"]), "10.0.0.1")  # only exclusions
    assert ip_allowed([], "anything")
    assert ip_allowed(parse_ip_ranges(["::1"]), "::1") and not ip_allowed(
        parse_ip_ranges(["::1"]), "127.0.0.1"
    )


def test_time_frames_parse_and_match() -> None:
    assert parse_time_frames([" MON 08:00-12:00", "", "!9:00-9:30"]) == ["MON 08:00-12:00", "!9:00-9:30"]
    for bad in ("8:00", "8:00-9:00-10:00", "XYZ 8:00-9:00", "25:00-26:00", "8-9", "MON8:00-9:00", "8:00-"):
        with pytest.raises(InvalidTimeFrame) as err:
            parse_time_frames([bad])
        assert err.value.detail["reason"] == Reason.INVALID_TIME_FRAME
    assert time_allowed(["MON 08:00-12:00"], MONDAY_10)
    assert not time_allowed(["mon 08:00-12:00"], TUESDAY_10)
    assert not time_allowed(["10:00-12:00"], MONDAY_10)  # strict: start < now < end
    assert not time_allowed(["22:00-6:00"], datetime(2025, 1, 6, 23, 0))  # no wrap past midnight
    assert not time_allowed(["8:00-18:00", "!9:30-10:30"], MONDAY_10)
    assert time_allowed(["!TUE 9:30-10:30"], MONDAY_10)
    assert time_allowed([], MONDAY_10)


def test_success_codes() -> None:
    assert parse_codes("0, 3010,, x,-1") == {0, 3010, -1}
    assert judge("succeeded", 3010, "0,3010") == "succeeded"
    assert judge("succeeded", 1, "0") == "failed"
    assert judge("succeeded", 1, "") == "succeeded"  # an empty list disables the check
    assert judge("failed", 0, "0") == "failed"  # the agent's own failure (download, ...) stands


def test_ip_range_entries_are_trimmed_and_errors_name_the_entry() -> None:
    assert parse_ip_ranges(["  ", " ! 10.0.0.0/8 ", "10.1.2.3/16"]) == ["!10.0.0.0/8", "10.1.0.0/16"]
    with pytest.raises(InvalidIpRange) as err:
        parse_ip_ranges(["10.0.0.1", " bogus "])
    assert err.value.detail == {"reason": Reason.INVALID_IP_RANGE, "value": " bogus "}
    assert "' bogus '" in err.value.message and err.value.code == "invalid_ip_range"


def test_ip_matching_details() -> None:
    ranges = parse_ip_ranges(["fe80::/10"])
    assert ip_allowed(ranges, "fe80::1%eth0")  # the zone of a link-local address is ignored
    assert not ip_allowed(ranges, "not an address")
    assert not ip_allowed(parse_ip_ranges(["10.0.0.0/8"]), "::ffff:10.0.0.1")  # another IP version
    assert ip_allowed(parse_ip_ranges(["!10.0.0.0/8", "192.168.0.0/16"]), "192.168.1.1")
    assert not ip_allowed(parse_ip_ranges(["!10.0.0.0/8", "192.168.0.0/16"]), "10.0.0.1")
    assert not ip_allowed(parse_ip_ranges(["!10.0.0.0/8"]), "10.0.0.1")
    assert ip_allowed(parse_ip_ranges(["!10.0.0.0/8"]), "")  # an exclusion cannot match an unknown address


def test_time_frame_details() -> None:
    sunday_2359 = datetime(2025, 1, 12, 23, 58, 30)
    assert time_allowed(["sun 23:00-23:59"], sunday_2359)
    assert not time_allowed(["SAT 23:00-23:59"], sunday_2359)
    assert time_allowed([" ! MON 8:00-9:00 "], sunday_2359)
    assert not time_allowed(["8:00-10:00"], MONDAY_10)  # the end is excluded too
    assert time_allowed(["9:59-10:01"], MONDAY_10)
    aware = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
    assert time_allowed(["9:00-11:00"], aware)  # a local time with a zone compares by its clock
    assert parse_time_frames(["  ", " 0:00-23:59 "]) == ["0:00-23:59"]
    for bad in (
        "24:00-25:00",
        "8:60-9:00",
        "8:00-9:60",
        "8:00-MON 9:00",
        "8:00- ",
        "FRIDAY 8:00-9:00",
        "8:00-9",
    ):
        with pytest.raises(InvalidTimeFrame) as err:
            parse_time_frames([bad])
        assert err.value.detail == {"reason": Reason.INVALID_TIME_FRAME, "value": bad}
    assert parse_time_frames(["23:00-23:59", "00:00-0:01", "WED 7:05-7:06"]) == [
        "23:00-23:59",
        "00:00-0:01",
        "WED 7:05-7:06",
    ]
    assert time_allowed(["WED 7:05-7:06"], datetime(2025, 1, 8, 7, 5, 30))

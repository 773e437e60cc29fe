"""opsi license management: contracts, licenses, pools, and the usage rule of
licenseOnClient_getOrCreateObject."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, enroll


def setup_pool(rpc: Rpc) -> None:
    rpc.ok("licenseContract_create", "msdn-uib", "MSDN", "", "Microsoft")
    rpc.ok("licensePool_create", "win7-msdn-prof", "Windows 7", ["win7"])
    rpc.ok("softwareLicense_createVolume", "uib-msdn-win7-vol", "msdn-uib", 2)
    rpc.ok("softwareLicenseToLicensePool_create", "uib-msdn-win7-vol", "win7-msdn-prof", "AAAAA-BBBBB-CCCCC")


def test_a_volume_license_is_handed_out_until_it_is_used_up(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    for n in (1, 2, 3):
        enroll(runtime, admin, f"pc-{n}")
    setup_pool(rpc)
    (lic,) = rpc.ok("softwareLicense_getObjects")
    assert (lic["type"], lic["maxInstallations"], lic["ident"]) == (
        "VolumeSoftwareLicense",
        2,
        "uib-msdn-win7-vol;msdn-uib",
    )
    first = rpc.ok("licenseOnClient_getOrCreateObject", "pc-1.fleetdeck.local", "win7-msdn-prof")
    assert first["softwareLicenseId"] == "uib-msdn-win7-vol" and first["licenseKey"] == "AAAAA-BBBBB-CCCCC"
    again = rpc.ok("licenseOnClient_getOrCreateObject", "pc-1.fleetdeck.local", None, "win7")  # by product
    assert again["ident"] == first["ident"]
    rpc.ok("licenseOnClient_getOrCreateObject", "pc-2.fleetdeck.local", "win7-msdn-prof")
    err = rpc.error("licenseOnClient_getOrCreateObject", "pc-3.fleetdeck.local", "win7-msdn-prof")
    assert err["class"] == "LicenseMissingError"
    assert len(rpc.ok("licenseOnClient_getObjects")) == 2
    rpc.ok("licenseOnClient_delete", "uib-msdn-win7-vol", "win7-msdn-prof", "pc-1.fleetdeck.local")
    third = rpc.ok("licenseOnClient_getOrCreateObject", "pc-3.fleetdeck.local", "win7-msdn-prof")
    assert third["clientId"] == "pc-3.fleetdeck.local"


def test_oem_licenses_are_bound_and_expired_ones_are_not_used(
    rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    rpc.ok("licenseContract_create", "c1")
    rpc.ok("licensePool_create", "office")
    rpc.ok("softwareLicense_createOEM", "oem-1", "c1", 1, "pc-1.fleetdeck.local")
    rpc.ok("softwareLicense_createRetail", "old", "c1", 1, None, "2001-01-01 00:00:00")
    rpc.ok("softwareLicenseToLicensePool_create", "oem-1", "office")
    rpc.ok("softwareLicenseToLicensePool_create", "old", "office")
    assert rpc.error("licenseOnClient_getOrCreateObject", "pc-2.fleetdeck.local", "office")["class"] == (
        "LicenseMissingError"
    )
    got = rpc.ok("licenseOnClient_getOrCreateObject", "pc-1.fleetdeck.local", "office")
    assert got["softwareLicenseId"] == "oem-1"
    lic = {r["id"]: r for r in rpc.ok("softwareLicense_getObjects")}
    assert lic["oem-1"]["boundToHost"] == "pc-1.fleetdeck.local"
    assert lic["old"]["expirationDate"] == "2001-01-01 00:00:00"


def test_license_keys_are_hidden_from_viewers(rpc: Rpc, viewer_rpc: Rpc) -> None:
    setup_pool(rpc)
    (member,) = viewer_rpc.ok("softwareLicenseToLicensePool_getObjects")
    assert member["licenseKey"] is None
    assert rpc.ok("softwareLicenseToLicensePool_getObjects")[0]["licenseKey"] == "AAAAA-BBBBB-CCCCC"
    assert viewer_rpc.error("licensePool_create", "p2")["class"] == "BackendPermissionDeniedError"


def test_bad_license_input(rpc: Rpc) -> None:
    assert rpc.error("licenseContract_create", "Bad Id!")["class"] == "ValueError"
    assert (
        rpc.error("softwareLicense_createRetail", "l1", "no-contract")["class"] == "BackendMissingDataError"
    )
    assert rpc.error("licenseContract_create", "c2", "", "", "", "not a date")["class"] == "ValueError"
    assert rpc.error("licenseOnClient_getOrCreateObject", "pc-9.example.org")["class"] == "ValueError"
    err = rpc.error("licenseOnClient_getOrCreateObject", "pc-9.example.org", "no-such-pool")
    assert err == {"class": "LicenseConfigurationError", "message": "License pool 'no-such-pool' not found"}


SOFTWARE = {"name": "Microsoft Office 2016", "version": "16.0", "subVersion": "", "language": "de-DE"}


def test_audit_software_to_license_pool(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    setup_pool(rpc)
    rpc.ok("auditSoftwareToLicensePool_create", *SOFTWARE.values(), "x64", "win7-msdn-prof")
    rpc.ok(
        "auditSoftwareToLicensePool_createObjects",
        [{**SOFTWARE, "version": "16.1", "architecture": "x64", "licensePoolId": "win7-msdn-prof"}],
    )
    rows = rpc.ok("auditSoftwareToLicensePool_getObjects", [], {"version": "16.0"})
    assert rows == [
        {
            **SOFTWARE,
            "architecture": "x64",
            "licensePoolId": "win7-msdn-prof",
            "type": "AuditSoftwareToLicensePool",
            "ident": "Microsoft Office 2016;16.0;;de-DE;x64;win7-msdn-prof",
        }
    ]
    assert rpc.ok("auditSoftwareToLicensePool_getIdents", "list", {"version": "16.*"}) == [
        ["Microsoft Office 2016", "16.0", "", "de-DE", "x64", "win7-msdn-prof"],
        ["Microsoft Office 2016", "16.1", "", "de-DE", "x64", "win7-msdn-prof"],
    ]
    rpc.ok("auditSoftwareToLicensePool_createObjects", [{**rows[0]}])  # the same again: kept once
    assert len(rpc.ok("auditSoftwareToLicensePool_getObjects")) == 2
    rpc.ok("auditSoftwareToLicensePool_delete", *SOFTWARE.values(), "x64", "win7-msdn-prof")
    assert [r["version"] for r in rpc.ok("auditSoftwareToLicensePool_getObjects")] == ["16.1"]
    # software with a windowsSoftwareId finds its pool through the relation; the Linux agent
    # reports none, so that lookup says no pool was found (as opsi does without a match)
    enroll(runtime, admin, "pc-1")
    err = rpc.error("licenseOnClient_getOrCreateObject", "pc-1.fleetdeck.local", None, None, "{office}")
    assert err["class"] == "LicenseConfigurationError" and "windowsSoftwareId '{office}'" in err["message"]
    # deleting the pool deletes its relations
    rpc.ok("licensePool_delete", "win7-msdn-prof")
    assert rpc.ok("auditSoftwareToLicensePool_getObjects") == []


def test_bad_audit_software_to_license_pool(rpc: Rpc, viewer_rpc: Rpc) -> None:
    setup_pool(rpc)
    assert rpc.error("auditSoftwareToLicensePool_create", "", "1", "", "", "", "win7-msdn-prof")["class"] == (
        "ValueError"
    )
    assert (
        rpc.error("auditSoftwareToLicensePool_create", "x", "1", "", "", "", "Bad Pool!")["class"]
        == "ValueError"
    )
    assert rpc.error("auditSoftwareToLicensePool_create", "x", "1", "", "", "", "nope")["class"] == (
        "BackendMissingDataError"
    )
    assert (
        viewer_rpc.error("auditSoftwareToLicensePool_create", "x", "1", "", "", "", "win7-msdn-prof")["class"]
        == "BackendPermissionDeniedError"
    )


def test_delete_software_license_usage(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    for n in (1, 2):
        enroll(runtime, admin, f"pc-{n}")
    setup_pool(rpc)
    for n in (1, 2):
        rpc.ok("licenseOnClient_getOrCreateObject", f"pc-{n}.fleetdeck.local", "win7-msdn-prof")
    rpc.ok("deleteSoftwareLicenseUsage", "pc-1.fleetdeck.local", None, "", "win7")  # the pool of product win7
    assert [r["clientId"] for r in rpc.ok("licenseOnClient_getObjects")] == ["pc-2.fleetdeck.local"]
    rpc.ok("deleteSoftwareLicenseUsage", "pc-2.fleetdeck.local", "uib-msdn-win7-vol")
    assert rpc.ok("licenseOnClient_getObjects") == []
    err = rpc.error("deleteSoftwareLicenseUsage", "pc-2.fleetdeck.local", None, "", "no-such-product")
    assert err["class"] == "LicenseConfigurationError"

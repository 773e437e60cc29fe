"""What each ``/api/v1`` route requires of its caller, declared in one table.

Core checks permissions inside every service method (``core.authz``); this table states, per
route, which permission that check asks for, so that it can be published and tested:

* the OpenAPI document carries it as ``x-permission`` on every operation (``annotate``), so a
  client can tell before calling whether a role may;
* ``tests/fuzz/test_authorization_matrix.py`` enumerates the app's routes, fails for any route
  missing here (a new route must be declared), and tries every route with no credentials, a
  bad token, a viewer, an operator, an admin's read-only token and an admin: a caller without the
  declared permission must get 403, one with it must not get 401/403.

The table is a declaration, not a second check: refusing stays core's job, which the matrix test
holds to this table.
"""

from __future__ import annotations

import enum
from typing import Any

from fleetdeck.core.authz import Perm


class Access(enum.StrEnum):
    """Requirements that are not a permission of ``core.authz.Perm``."""

    PUBLIC = "public"  # no credentials needed
    USER = "user"  # any authenticated caller, a read-only token included
    OWN = "own"  # any user on their own account, but not with a read-only token


Requirement = Perm | Access

EXTENSION = "x-permission"

# "METHOD /path" (the path as mounted under /api/v1) -> what the caller needs.
ROUTES: dict[str, Requirement] = {
    # FastAPI's own documentation routes
    "GET /openapi.json": Access.PUBLIC,
    "GET /docs": Access.PUBLIC,
    "GET /docs/oauth2-redirect": Access.PUBLIC,
    "GET /redoc": Access.PUBLIC,
    # auth and the caller's own account
    "POST /auth/login": Access.PUBLIC,
    "GET /me": Access.USER,
    "PUT /me/password": Access.OWN,
    "GET /me/tokens": Access.USER,
    "POST /me/tokens": Access.OWN,
    "DELETE /me/tokens/{token_id}": Access.OWN,
    # users
    "GET /users": Perm.MANAGE_USERS,
    "POST /users": Perm.MANAGE_USERS,
    "GET /users/{user_id}": Perm.MANAGE_USERS,  # a user's own id needs no permission (GET /me)
    "PATCH /users/{user_id}": Perm.MANAGE_USERS,
    "DELETE /users/{user_id}": Perm.MANAGE_USERS,
    "PUT /users/{user_id}/password": Perm.MANAGE_USERS,  # another user's; one's own: PUT /me/password
    "POST /login-failures/clear": Perm.MANAGE_USERS,
    # end users (core.people)
    "POST /invitations/{token}/accept": Access.PUBLIC,  # the link's token is the credential
    "GET /users/{user_id}/computers": Perm.MANAGE_USERS,  # a user's own id needs no permission
    # computers
    "GET /computers": Perm.READ,
    "POST /computers": Perm.MANAGE_COMPUTERS,
    "GET /computers/{computer_id}": Perm.READ,
    "PATCH /computers/{computer_id}": Perm.MANAGE_COMPUTERS,
    "DELETE /computers/{computer_id}": Perm.MANAGE_COMPUTERS,
    "GET /computers/{computer_id}/jobs": Perm.READ,
    "GET /computers/{computer_id}/events": Perm.READ,
    "GET /computers/{computer_id}/metrics": Perm.READ_MONITORING,
    "GET /computers/{computer_id}/passwords": Perm.READ_PASSWORDS,  # clear text; each read audited
    "POST /computers/{computer_id}/force-inventory": Perm.MANAGE_COMPUTERS,
    "POST /computers/{computer_id}/wake": Perm.RUN_COMMANDS,
    "POST /computers/{computer_id}/ping": Perm.READ,  # asks the agent whether it answers; changes nothing
    "POST /computers/{computer_id}/allow-reenroll": Perm.MANAGE_ENROLLMENT,
    "DELETE /computers/{computer_id}/allow-reenroll": Perm.MANAGE_ENROLLMENT,
    # computer groups
    "GET /groups": Perm.READ,
    "POST /groups": Perm.MANAGE_COMPUTERS,
    "GET /groups/{group_id}": Perm.READ,
    "PATCH /groups/{group_id}": Perm.MANAGE_COMPUTERS,
    "DELETE /groups/{group_id}": Perm.MANAGE_COMPUTERS,
    "GET /groups/{group_id}/members": Perm.READ,
    "POST /groups/{group_id}/members": Perm.MANAGE_COMPUTERS,
    "DELETE /groups/{group_id}/members": Perm.MANAGE_COMPUTERS,
    "DELETE /groups/{group_id}/members/{computer_id}": Perm.MANAGE_COMPUTERS,
    # commands and jobs
    "POST /commands": Perm.RUN_COMMANDS,
    "POST /actions": Perm.RUN_COMMANDS,
    "GET /commands/{batch_id}": Perm.READ,
    "GET /jobs": Perm.READ,
    "GET /jobs/{job_id}": Perm.READ,
    "POST /jobs/{job_id}/cancel": Perm.RUN_COMMANDS,
    # schedules (core.jobs.schedules): saving also needs run_commands (and run_scripts for scripts)
    "GET /schedules": Perm.MANAGE_SCHEDULES,
    "POST /schedules": Perm.MANAGE_SCHEDULES,
    "GET /schedules/{schedule_id}": Perm.MANAGE_SCHEDULES,
    "PUT /schedules/{schedule_id}": Perm.MANAGE_SCHEDULES,
    "DELETE /schedules/{schedule_id}": Perm.MANAGE_SCHEDULES,
    "GET /schedules/{schedule_id}/runs": Perm.MANAGE_SCHEDULES,
    "WEBSOCKET /jobs/{job_id}/stream": Perm.READ,
    # agent releases (self-update)
    "GET /agent-releases": Perm.READ,
    "POST /agent-releases": Perm.MANAGE_SETTINGS,
    "POST /agent-releases/build": Perm.MANAGE_SETTINGS,
    "POST /agent-releases/{version}/rollout": Perm.MANAGE_SETTINGS,
    "GET /agent-releases/key": Perm.READ,
    "GET /agent-updates": Perm.READ,
    # enrollment and audit
    "GET /enroll-tokens": Perm.MANAGE_ENROLLMENT,
    "POST /enroll-tokens": Perm.MANAGE_ENROLLMENT,
    "DELETE /enroll-tokens/{token_id}": Perm.MANAGE_ENROLLMENT,
    "GET /audit": Perm.READ_AUDIT,
    # reports
    "GET /reports": Perm.READ,
    "POST /reports": Perm.MANAGE_REPORTS,
    "POST /reports/query": Perm.MANAGE_REPORTS,
    "GET /reports/{report_id}": Perm.READ,
    "PATCH /reports/{report_id}": Perm.MANAGE_REPORTS,
    "DELETE /reports/{report_id}": Perm.MANAGE_REPORTS,
    "POST /reports/{report_id}/execute": Perm.READ,
    "GET /report-groups": Perm.READ,
    "POST /report-groups": Perm.MANAGE_REPORTS,
    "GET /report-groups/{group_id}": Perm.READ,
    "PATCH /report-groups/{group_id}": Perm.MANAGE_REPORTS,
    "DELETE /report-groups/{group_id}": Perm.MANAGE_REPORTS,
    # settings
    "GET /settings": Perm.READ,
    "GET /settings/{key}": Perm.READ,
    "PUT /settings/{key}": Perm.MANAGE_SETTINGS,
    "DELETE /settings/{key}": Perm.MANAGE_SETTINGS,
    # packages
    "GET /packages": Perm.READ,
    "POST /packages": Perm.MANAGE_PACKAGES,
    "POST /packages/import-opsi": Perm.MANAGE_PACKAGES,
    "GET /packages/{package_id}": Perm.READ,
    "PATCH /packages/{package_id}": Perm.MANAGE_PACKAGES,
    "DELETE /packages/{package_id}": Perm.MANAGE_PACKAGES,
    "GET /packages/{package_id}/payload": Perm.MANAGE_PACKAGES,  # agents fetch payloads with their key
    "PUT /packages/{package_id}/payload": Perm.MANAGE_PACKAGES,
    "POST /packages/{package_id}/payload": Perm.MANAGE_PACKAGES,
    "GET /packages/{package_id}/uploads": Perm.MANAGE_PACKAGES,
    "POST /uploads": Perm.MANAGE_PACKAGES,
    "GET /uploads/{upload_id}": Perm.MANAGE_PACKAGES,
    "HEAD /uploads/{upload_id}": Perm.MANAGE_PACKAGES,
    "PATCH /uploads/{upload_id}": Perm.MANAGE_PACKAGES,
    "DELETE /uploads/{upload_id}": Perm.MANAGE_PACKAGES,
    "GET /package-families": Perm.READ,
    "GET /package-families/{family_id}": Perm.READ,
    "PATCH /package-families/{family_id}": Perm.MANAGE_PACKAGES,
    "DELETE /package-families/{family_id}": Perm.MANAGE_PACKAGES,
    "GET /package-groups": Perm.READ,
    "POST /package-groups": Perm.MANAGE_PACKAGES,
    "GET /package-groups/{group_id}": Perm.READ,
    "PATCH /package-groups/{group_id}": Perm.MANAGE_PACKAGES,
    "DELETE /package-groups/{group_id}": Perm.MANAGE_PACKAGES,
    "GET /package-groups/{group_id}/members": Perm.READ,
    "POST /package-groups/{group_id}/members": Perm.MANAGE_PACKAGES,
    "DELETE /package-groups/{group_id}/members/{package_id}": Perm.MANAGE_PACKAGES,
    "GET /installations": Perm.READ,
    "POST /installations": Perm.MANAGE_PACKAGES,
    "DELETE /installations/{installation_id}": Perm.MANAGE_PACKAGES,
    # deployments
    "POST /deployments": Perm.DEPLOY,
    "POST /deployments/uninstall": Perm.DEPLOY,
    "GET /deployments": Perm.READ,
    "GET /deployments/{container_id}": Perm.READ,
    "DELETE /deployments/{container_id}": Perm.DEPLOY,
    "DELETE /deployments/jobs/{job_id}": Perm.DEPLOY,
    "GET /deployment-rules": Perm.READ,
    "POST /deployment-rules": Perm.DEPLOY,
    "GET /deployment-rules/{rule_id}": Perm.READ,
    "PATCH /deployment-rules/{rule_id}": Perm.DEPLOY,
    "DELETE /deployment-rules/{rule_id}": Perm.DEPLOY,
    "GET /deployment-rules/{rule_id}/jobs": Perm.READ,
}


def requirement(method: str, path: str) -> Requirement | None:
    """The declared requirement of ``method path`` (None: the route is not declared)."""
    return ROUTES.get(f"{method.upper()} {path}")


def annotate(document: dict[str, Any]) -> dict[str, Any]:
    """Add ``x-permission`` to every operation of an OpenAPI ``document`` (in place)."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            declared = requirement(method, path)
            if isinstance(operation, dict) and declared is not None:
                operation[EXTENSION] = declared.value
    return document

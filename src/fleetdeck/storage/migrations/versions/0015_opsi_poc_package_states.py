"""package states: the state of a package family on a computer, stored (issue #13)

opsi's productOnClient was computed from jobs and installation records; it is now a row per
(computer, family) that job outcomes and admins write. Existing installation records become
``installed`` rows (last action ``setup``, result ``successful``, the newest installed
package's versions); jobs that have not finished become the row's requested action.

Revision ID: 0015_opsi_poc
Revises: 0014
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0015_opsi_poc"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSTALLED = """
INSERT INTO package_states (computer_id, family_id, installation_status, action_request,
    last_action, action_result, action_progress, version, package_version, modified_at)
SELECT i.computer_id, p.family_id, 'installed', 'none', 'setup', 'successful', '',
    (SELECT p2.version FROM installations i2 JOIN packages p2 ON p2.id = i2.package_id
      WHERE i2.computer_id = i.computer_id AND p2.family_id = p.family_id
      ORDER BY p2.created_at DESC, p2.id DESC LIMIT 1),
    (SELECT p2.package_version FROM installations i2 JOIN packages p2 ON p2.id = i2.package_id
      WHERE i2.computer_id = i.computer_id AND p2.family_id = p.family_id
      ORDER BY p2.created_at DESC, p2.id DESC LIMIT 1),
    MAX(i.installed_at)
FROM installations i JOIN packages p ON p.id = i.package_id
GROUP BY i.computer_id, p.family_id
"""

_PENDING = """
INSERT INTO package_states (computer_id, family_id, installation_status, action_request,
    action_result, action_progress, modified_at)
SELECT DISTINCT j.computer_id, p.family_id, 'not_installed', 'none', 'none', '', MAX(j.created_at)
FROM jobs j JOIN packages p ON p.id = j.package_id JOIN job_batches b ON b.id = j.batch_id
WHERE b.kind = 'deployment' AND j.status IN ('queued', 'sent', 'running')
  AND NOT EXISTS (SELECT 1 FROM package_states s
                  WHERE s.computer_id = j.computer_id AND s.family_id = p.family_id)
GROUP BY j.computer_id, p.family_id
"""

_REQUESTS = """
UPDATE package_states SET
  job_id = (SELECT MAX(j.id) FROM jobs j JOIN packages p ON p.id = j.package_id
            JOIN job_batches b ON b.id = j.batch_id
            WHERE b.kind = 'deployment' AND j.status IN ('queued', 'sent', 'running')
              AND j.computer_id = package_states.computer_id
              AND p.family_id = package_states.family_id)
"""

_REQUEST_KIND = """
UPDATE package_states SET action_request = CASE
  (SELECT j.kind FROM jobs j WHERE j.id = package_states.job_id)
  WHEN 'package_uninstall' THEN 'uninstall' ELSE 'setup' END
WHERE job_id IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "package_states",
        sa.Column("id", fleetdeck.storage.tables.base.BigId, nullable=False),
        sa.Column("computer_id", fleetdeck.storage.tables.base.BigId, nullable=False),
        sa.Column("family_id", fleetdeck.storage.tables.base.BigId, nullable=False),
        sa.Column("installation_status", sa.String(length=16), nullable=False),
        sa.Column("action_request", sa.String(length=16), nullable=False),
        sa.Column("last_action", sa.String(length=16), nullable=True),
        sa.Column("action_result", sa.String(length=16), nullable=True),
        sa.Column("action_progress", sa.String(length=255), nullable=True),
        sa.Column("target_configuration", sa.String(length=16), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("package_version", sa.String(length=64), nullable=True),
        sa.Column("job_id", fleetdeck.storage.tables.base.BigId, nullable=True),
        sa.Column("modified_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["computer_id"], ["computers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["family_id"], ["package_families.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("computer_id", "family_id", name="uq_package_states_computer_family"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("package_states") as batch_op:
        batch_op.create_index("ix_package_states_computer_id", ["computer_id"], unique=False)
        batch_op.create_index("ix_package_states_family_id", ["family_id"], unique=False)
        batch_op.create_index("ix_package_states_job_id", ["job_id"], unique=False)
    bind = op.get_bind()
    bind.execute(sa.text(_INSTALLED))
    bind.execute(sa.text(_PENDING))
    bind.execute(sa.text(_REQUESTS))
    bind.execute(sa.text(_REQUEST_KIND))
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql("GRANT SELECT ON TABLE package_states TO fleetdeck_report")


def downgrade() -> None:
    with op.batch_alter_table("package_states") as batch_op:
        batch_op.drop_index("ix_package_states_job_id")
        batch_op.drop_index("ix_package_states_family_id")
        batch_op.drop_index("ix_package_states_computer_id")
    op.drop_table("package_states")

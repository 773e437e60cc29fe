"""polling agents: the computer's agent kind, its server key and its last request timestamp

A computer may be managed by a foreign agent that polls over signed HTTP requests (OCO's
agent, ``/api-agent.php``) instead of fleetdeck's connected agent. ``agent_kind`` says which;
``agent_server_key_enc`` is the key the server signs its answers with (encrypted at rest, like
``agent_key_enc``); ``agent_timestamp`` is the newest request timestamp accepted (replay
protection). Reports may read the kind and the timestamp, never the key.

Revision ID: 0018_oco_agent
Revises: 0017_opsi_pkg
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_oco_agent"
down_revision: str | None = "0017_opsi_pkg"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("computers") as batch_op:
        batch_op.add_column(
            sa.Column("agent_kind", sa.String(length=16), nullable=False, server_default="fleetdeck")
        )
        batch_op.add_column(sa.Column("agent_server_key_enc", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("agent_timestamp", sa.Double(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT (agent_kind, agent_timestamp) ON TABLE computers TO fleetdeck_report"
            )


def downgrade() -> None:
    with op.batch_alter_table("computers") as batch_op:
        batch_op.drop_column("agent_timestamp")
        batch_op.drop_column("agent_server_key_enc")
        batch_op.drop_column("agent_kind")

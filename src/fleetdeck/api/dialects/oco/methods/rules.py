"""``oco.deployment_rule.*``: deployment rules (computer group x package group) and their jobs."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.oco import render_jobs
from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.api.dialects.oco.schemas import OptId
from fleetdeck.core.errors import NotFound


@METHODS.method("oco.deployment_rule.list")
def deployment_rule_list(ctx: Context) -> list[Any]:
    """All deployment rules."""
    return [render_jobs.rule(r, ctx.user_id) for r in ctx.services.deployments.list_rules(ctx.actor)]


@METHODS.method("oco.deployment_rule.job.list")
def deployment_rule_job_list(ctx: Context, id: OptId = None) -> list[Any]:
    """The jobs a rule produced, by computer and sequence."""
    if not id:
        raise NotFound("deployment rule", id)
    rule = ctx.services.deployments.get_rule(ctx.actor, id)
    return [render_jobs.rule_job(j, rule) for j in ctx.services.deployments.rule_jobs(ctx.actor, id)]

"""Deployments (job containers that install or uninstall packages) and deployment rules."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.deployments import (
    ContainerCreatedOut,
    ContainerDetailOut,
    ContainerOut,
    DeploymentCreate,
    DeploymentJobOut,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    UninstallCreate,
)

router = APIRouter(tags=["deployments"], responses=errors(401, 403, 422))


@router.post("/deployments", status_code=201)
def deploy(body: DeploymentCreate, actor: CurrentActor, services: ServicesDep) -> Data[ContainerCreatedOut]:
    """Install packages (with their dependencies) on computers and group members. Unknown ids
    are skipped; nothing to do is a 422 with reason ``no_jobs``."""
    created = services.deployments.deploy(
        actor,
        body.name,
        description=body.description,
        computer_ids=body.computer_ids,
        computer_group_ids=body.computer_group_ids,
        package_ids=body.package_ids,
        package_group_ids=body.package_group_ids,
        start=body.start,
        end=body.end,
        use_wol=body.use_wol,
        shutdown_waked_after_completion=body.shutdown_waked_after_completion,
        restart_timeout_min=body.restart_timeout_min,
        force_same_version=body.force_same_version,
        sequence_mode=body.sequence_mode,
        priority=body.priority,
        agent_ip_ranges=body.agent_ip_ranges,
        time_frames=body.time_frames,
    )
    return Data(data=ContainerCreatedOut.model_validate(created))


@router.post("/deployments/uninstall", status_code=201)
def uninstall(body: UninstallCreate, actor: CurrentActor, services: ServicesDep) -> Data[ContainerCreatedOut]:
    """Uninstall jobs for installation records (GET /installations)."""
    created = services.deployments.uninstall(
        actor,
        body.name,
        description=body.description,
        installation_ids=body.installation_ids,
        start=body.start,
        end=body.end,
        use_wol=body.use_wol,
        shutdown_waked_after_completion=body.shutdown_waked_after_completion,
        restart_timeout_min=body.restart_timeout_min,
        sequence_mode=body.sequence_mode,
        priority=body.priority,
        agent_ip_ranges=body.agent_ip_ranges,
    )
    return Data(data=ContainerCreatedOut.model_validate(created))


@router.get("/deployments")
def list_deployments(actor: CurrentActor, services: ServicesDep) -> DataList[ContainerOut]:
    items = services.deployments.list_containers(actor)
    return data_list([ContainerOut.model_validate(c) for c in items], len(items))


@router.get("/deployments/{container_id}", responses=errors(404))
def get_deployment(
    container_id: IdPath, actor: CurrentActor, services: ServicesDep
) -> Data[ContainerDetailOut]:
    """The deployment with its jobs, by computer and sequence."""
    info = services.deployments.get_container(actor, container_id)
    jobs = services.deployments.container_jobs(actor, container_id)
    return Data(
        data=ContainerDetailOut.model_validate(
            {
                **ContainerOut.model_validate(info).model_dump(),
                "jobs": [DeploymentJobOut.model_validate(j) for j in jobs],
            }
        )
    )


@router.delete("/deployments/{container_id}", status_code=204, responses=errors(404))
def delete_deployment(container_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Delete the deployment and its jobs; jobs an agent holds are cancelled there."""
    services.deployments.remove_container(actor, container_id)
    return Response(status_code=204)


@router.delete("/deployments/jobs/{job_id}", status_code=204, responses=errors(404))
def delete_deployment_job(job_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    services.deployments.remove_job(actor, job_id)
    return Response(status_code=204)


@router.get("/deployment-rules")
def list_rules(actor: CurrentActor, services: ServicesDep) -> DataList[RuleOut]:
    rules = services.deployments.list_rules(actor)
    return data_list([RuleOut.model_validate(r) for r in rules], len(rules))


@router.post("/deployment-rules", status_code=201, responses=errors(404))
def create_rule(body: RuleCreate, actor: CurrentActor, services: ServicesDep) -> Data[RuleOut]:
    """Keep the packages of a package group installed on the members of a computer group."""
    rule = services.deployments.create_rule(
        actor,
        body.name,
        body.computer_group_id,
        body.package_group_id,
        notes=body.notes,
        enabled=body.enabled,
        priority=body.priority,
        sequence_mode=body.sequence_mode,
        post_action_timeout_min=body.post_action_timeout_min,
    )
    return Data(data=RuleOut.model_validate(rule))


@router.get("/deployment-rules/{rule_id}", responses=errors(404))
def get_rule(rule_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[RuleOut]:
    return Data(data=RuleOut.model_validate(services.deployments.get_rule(actor, rule_id)))


@router.patch("/deployment-rules/{rule_id}", responses=errors(404))
def update_rule(
    rule_id: IdPath, body: RuleUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[RuleOut]:
    rule = services.deployments.update_rule(actor, rule_id, **body.model_dump(exclude_unset=True))
    return Data(data=RuleOut.model_validate(rule))


@router.delete("/deployment-rules/{rule_id}", status_code=204, responses=errors(404))
def delete_rule(rule_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    services.deployments.delete_rule(actor, rule_id)
    return Response(status_code=204)


@router.get("/deployment-rules/{rule_id}/jobs", responses=errors(404))
def list_rule_jobs(rule_id: IdPath, actor: CurrentActor, services: ServicesDep) -> DataList[DeploymentJobOut]:
    jobs = services.deployments.rule_jobs(actor, rule_id)
    return data_list([DeploymentJobOut.model_validate(j) for j in jobs], len(jobs))

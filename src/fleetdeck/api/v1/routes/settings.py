"""Runtime settings: list, read, change, reset. Secrets are shown as ``********``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.schemas.common import Data, DataList, data_list, errors
from fleetdeck.api.v1.schemas.settings import SettingOut, SettingSet

router = APIRouter(prefix="/settings", tags=["settings"], responses=errors(401, 403))

Key = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[a-z0-9_.\-]+$")]


@router.get("")
def list_settings(actor: CurrentActor, services: ServicesDep) -> DataList[SettingOut]:
    """Every declared setting with its effective value, default, type and description."""
    items = [SettingOut.model_validate(s) for s in services.settings.list(actor)]
    return data_list(items, len(items))


@router.get("/{key}", responses=errors(404))
def get_setting(key: Key, actor: CurrentActor, services: ServicesDep) -> Data[SettingOut]:
    return Data(data=SettingOut.model_validate(services.settings.get(actor, key)))


@router.put("/{key}", responses=errors(404, 422))
def set_setting(key: Key, body: SettingSet, actor: CurrentActor, services: ServicesDep) -> Data[SettingOut]:
    """Set a value of the setting's type (a wrong type is a 422; an unknown key a 404)."""
    return Data(data=SettingOut.model_validate(services.settings.set(actor, key, body.value)))


@router.delete("/{key}", responses=errors(404))
def reset_setting(key: Key, actor: CurrentActor, services: ServicesDep) -> Data[SettingOut]:
    """Back to the default."""
    return Data(data=SettingOut.model_validate(services.settings.reset(actor, key)))

"""opsi configed's SSH command menu (``SSHCommand_*``) over core's saved commands
(``core/jobs/saved.py``): ``menuText`` is the command's name, ``id`` opsiconfd's derived one
(``menuText`` lower-cased, blanks as ``_``). fleetdeck ships no built-in commands
(``buildIn`` is always false). Running them is configed's business (over SSH to the server);
fleetdeck runs commands on clients through the agent (``hostControl_execute``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.errors import OpsiValueError
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.errors import NotFound
from fleetdeck.core.jobs.saved import SavedCommandChange, SavedCommandInfo

Row = dict[str, Any]


def _row(c: SavedCommandInfo) -> Row:
    return {
        "menuText": c.name,
        "commands": list(c.commands),
        "id": c.name.strip().lower().replace(" ", "_"),
        "position": c.position,
        "needSudo": c.need_sudo,
        "tooltipText": c.tooltip,
        "parentMenuText": c.parent_menu,
        "buildIn": False,
    }


def _change(d: Any, *, full: bool) -> SavedCommandChange:
    if not isinstance(d, dict):
        raise OpsiValueError(f"Invalid SSH command: {d!r}")
    name = d.get("menuText")
    if not isinstance(name, str) or not name:
        raise OpsiValueError(
            "menuText must not be empty" if full or "menuText" in d else "Key 'menuText' missing"
        )
    commands = d.get("commands")
    if (full or commands is not None) and (
        not isinstance(commands, list) or not commands or not all(isinstance(c, str) for c in commands)
    ):
        raise OpsiValueError("'commands' has to be a non empty list")
    position = d.get("position", 0 if full else None)
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        raise OpsiValueError(f"Invalid position: {position!r}")
    for key in ("tooltipText", "parentMenuText"):
        if d.get(key) is not None and not isinstance(d[key], str):
            raise OpsiValueError(f"Invalid {key}: {d[key]!r}")
    need_sudo = d.get("needSudo", False if full else None)
    return SavedCommandChange(
        name=name,
        commands=commands,
        position=position,
        need_sudo=None if need_sudo is None else bool(need_sudo),
        tooltip=d.get("tooltipText", "" if full else None),
        parent_menu=d.get("parentMenuText"),
    )


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def get_objects(ctx: Context) -> list[Row]:
    return [_row(c) for c in ctx.services.saved_commands.list(ctx.actor)]


def get_object(ctx: Context, menuText: Any) -> Row | None:
    return next((_row(c) for c in ctx.services.saved_commands.list(ctx.actor) if c.name == menuText), None)


def create_object(ctx: Context, **attrs: Any) -> None:
    ctx.services.saved_commands.put(ctx.actor, [_change(attrs, full=True)], create=True)


def create_objects(ctx: Context, commandList: Any) -> None:
    changes = [_change(d, full=True) for d in _items(commandList)]
    ctx.services.saved_commands.put(ctx.actor, changes, create=True)


def update_object(ctx: Context, **attrs: Any) -> None:
    ctx.services.saved_commands.put(ctx.actor, [_change(attrs, full=True)], create=False)


def update_objects(ctx: Context, commandList: Any) -> None:
    changes = [_change(d, full=False) for d in _items(commandList)]
    ctx.services.saved_commands.put(ctx.actor, changes, create=False)


def delete_object(ctx: Context, menuText: Any) -> None:
    try:
        ctx.services.saved_commands.delete(ctx.actor, [str(menuText)], must_exist=True)
    except NotFound:
        raise OpsiValueError(f"Command menuText={menuText} does not exist") from None


def delete_objects(ctx: Context, menuTextList: Any) -> None:
    ctx.services.saved_commands.delete(ctx.actor, [str(n) for n in _items(menuTextList)])


crud.declare("SSHCommand_getObjects", get_objects)
crud.declare("SSHCommand_getObject", get_object)
crud.declare("SSHCommand_createObject", create_object)
crud.declare("SSHCommand_createObjects", create_objects)
crud.declare("SSHCommand_updateObject", update_object)
crud.declare("SSHCommand_updateObjects", update_objects)
crud.declare("SSHCommand_deleteObject", delete_object)
crud.declare("SSHCommand_deleteObjects", delete_objects)

"""Write hooks: rules and side effects that other rooms attach to FHIR writes of one type.

The engine knows nothing of what a hook does (the portal's messaging rules and mail notices
plug in here), only when to call it: ``before_write`` after the access check and before
anything is stored (it raises a ``FhirError`` to refuse), ``after_create`` once a new
resource is stored (``created`` per resource,
``created_many`` once per write and type). Registration is idempotent, so creating a second
app is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fhir_server.access import Caller
from fhir_server.services import Services

log = logging.getLogger("carespace.hooks")

Check = Callable[[Services, Caller, dict[str, Any], str], Awaitable[None]]  # interaction "c" or "u"
Created = Callable[[Services, Caller, dict[str, Any]], Awaitable[None]]
# Called once per write (a transaction of 200 results: once, with all of that type).
CreatedMany = Callable[[Services, Caller, list[dict[str, Any]]], Awaitable[None]]


@dataclass(frozen=True)
class WriteHook:
    check: Check | None = None
    created: Created | None = None
    created_many: CreatedMany | None = None


_HOOKS: dict[str, list[WriteHook]] = {}


def register(resource_type: str, hook: WriteHook) -> None:
    hooks = _HOOKS.setdefault(resource_type, [])
    if hook not in hooks:
        hooks.append(hook)


async def before_write(services: Services, caller: Caller, resource: dict[str, Any], interaction: str) -> None:
    """Every rule registered for the resource's type; the first that refuses raises."""
    for hook in _HOOKS.get(str(resource.get("resourceType")), []):
        if hook.check:
            await hook.check(services, caller, resource, interaction)


async def after_create(services: Services, caller: Caller, resources: Iterable[dict[str, Any] | None]) -> None:
    """Side effects of new resources. A failing side effect never fails the write that is
    already stored: it is logged."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        if not resource:
            continue
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
        for hook in _HOOKS.get(str(resource.get("resourceType")), []):
            if hook.created:
                try:
                    await hook.created(services, caller, resource)
                except Exception:
                    log.exception("after-create hook for %s/%s failed", resource.get("resourceType"),
                                  resource.get("id"))
    for resource_type, created in by_type.items():
        for hook in _HOOKS.get(resource_type, []):
            if hook.created_many:
                try:
                    await hook.created_many(services, caller, created)
                except Exception:
                    log.exception("after-create hook for %d %s failed", len(created), resource_type)

"""Validation of resources with the R4B models of fhir.resources (R4 JSON on the wire).

The package's default models are R5 and reject R4 resources: only ``fhir.resources.R4B``
is ever imported here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache, lru_cache
from typing import Any

import fhir.resources.R4B as r4b
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_server.resources.bindings.check import violations
from fhir_server.resources.errors import FhirError, bad_request

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@cache
def resource_types() -> frozenset[str]:
    """Every concrete resource type the R4B models know."""
    base = get_fhir_model_class("Resource")
    names: set[str] = set()
    for module in pkgutil.iter_modules(r4b.__path__):
        mod = importlib.import_module(f"{r4b.__name__}.{module.name}")
        for attr in vars(mod).values():
            if (
                isinstance(attr, type)
                and issubclass(attr, base)
                and attr.__name__.lower() == module.name
                and attr.__name__ not in {"Resource", "DomainResource"}
            ):
                names.add(attr.__name__)
    return frozenset(names)


@lru_cache(maxsize=512)  # bounded: the names come from request paths (R4B has 141 types)
def is_resource_type(name: str) -> bool:
    """One of ``resource_types()``, importing only that type's model (the full list imports
    every R4B module: about 9 s of a ``carespace import``, in each of its processes)."""
    if not name[:1].isupper() or name in ("Resource", "DomainResource"):
        return False
    try:
        model = get_fhir_model_class(name)
    except (ValueError, ImportError):
        return False
    return model.__name__ == name and issubclass(model, get_fhir_model_class("Resource"))


def check_type(resource_type: str) -> None:
    if not is_resource_type(resource_type):
        raise FhirError(404, "not-supported", f"Resource type '{resource_type}' is not supported by this server.")


def check_id(resource_id: str) -> None:
    if not ID_PATTERN.match(resource_id):
        raise bad_request(f"'{resource_id}' is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}}).", ["id"])


def validate(resource: Any, resource_type: str | None = None) -> dict[str, Any]:
    """Check a resource's JSON against the R4B model and the R4 required bindings; raise a
    400/422 OperationOutcome."""
    found = check_shape(resource, resource_type)
    try:
        get_fhir_model_class(found).model_validate(resource)
    except ValidationError as exc:
        where = [_path(found, e["loc"]) for e in exc.errors()][:20]
        raise FhirError(422, "processing", _describe(exc), where) from None
    except (ValueError, TypeError) as exc:
        raise FhirError(422, "processing", f"{found} is not valid: {exc}") from None
    check_bindings(resource)
    return resource


def check_bindings(resource: dict[str, Any]) -> None:
    """A code outside its required value set is refused (422, code-invalid) with every such
    element's path and the codes it allows."""
    wrong = violations(resource)
    if wrong:
        shown = " ".join(v.message() for v in wrong[:10])
        more = f" (and {len(wrong) - 10} more)" if len(wrong) > 10 else ""
        raise FhirError(422, "code-invalid", f"{resource['resourceType']} is not valid: {shown}{more}",
                        [v.path for v in wrong[:20]])


def check_shape(resource: Any, resource_type: str | None = None) -> str:
    """The checks before the model's: a JSON object of a known type (the URL's, when given)."""
    if not isinstance(resource, dict):
        raise bad_request("The body must be a JSON object holding one FHIR resource.")
    found = resource.get("resourceType")
    if not isinstance(found, str) or not found:
        raise bad_request("The resource has no resourceType.", ["resourceType"])
    if resource_type and found != resource_type:
        raise bad_request(
            f"The resourceType '{found}' does not match the URL's type '{resource_type}'.", ["resourceType"]
        )
    check_type(found)
    return found


def _path(resource_type: str, loc: tuple[Any, ...]) -> str:
    parts = [resource_type]
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    title = exc.title
    shown = "; ".join(f"{_path(title, e['loc'])}: {e['msg']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"{title} is not valid: {shown}{more}"

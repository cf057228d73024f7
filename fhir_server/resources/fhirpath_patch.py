"""FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): a Parameters resource whose
``operation`` parameters add, insert, delete, replace or move elements found by FHIRPath.

The paths are evaluated by fhirpathpy (with its R4 model, so ``Observation.value`` finds
``valueQuantity``). fhirpathpy answers copies, so each object of a marked copy of the resource
carries its JSON Pointer: a path that selects elements tells where they are; a path that
selects a primitive is located through its parent's path and its last step's name.
"""

from __future__ import annotations

import copy
import re
import typing
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import evaluate
from fhirpathpy.models import models

from fhir_server.resources.errors import FhirError, bad_request

MARK = "__carespace_pointer"
TYPES = ("add", "insert", "delete", "replace", "move")
STEP = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The patched copy of ``resource``; 400 for a malformed patch, 422 for one that cannot apply."""
    result = copy.deepcopy(resource)
    operations = [p for p in parameters.get("parameter") or [] if isinstance(p, dict)]
    if not operations or any(p.get("name") != "operation" for p in operations):
        raise bad_request("A FHIRPath Patch is a Parameters resource of 'operation' parameters.")
    for number, operation in enumerate(operations):
        parts = {p.get("name"): p for p in operation.get("part") or [] if isinstance(p, dict)}
        kind = _value(parts.get("type"))
        path = _value(parts.get("path"))
        if kind not in TYPES or not isinstance(path, str) or not path:
            raise bad_request(f"operation {number + 1}: needs a type ({', '.join(TYPES)}) and a path.")
        try:
            _apply(result, kind, path, parts)
        except FhirError as exc:
            raise FhirError(exc.status, exc.code, f"operation {number + 1} ({kind} {path}): {exc.diagnostics}",
                            exc.expression) from None
    return result


def _apply(resource: dict[str, Any], kind: str, path: str, parts: dict[str, Any]) -> None:
    if kind == "add":
        name = _value(parts.get("name"))
        if not isinstance(name, str) or not name.isidentifier():
            raise bad_request("add needs the name of the element to add.")
        container = _single(resource, _locate(resource, path), path)
        target = _resolve(resource, container)
        if not isinstance(target, dict):
            raise FhirError(422, "processing", "the path does not select an element that can hold children.")
        value = _operation_value(parts)
        if isinstance(target.get(name), list):
            target[name].append(value)
        elif name in target:
            raise FhirError(422, "processing", f"{name} already has a value; use replace.")
        else:
            target[name] = [value] if _is_list(resource, [*container, name]) else value
        return
    if kind == "insert" or kind == "move":
        parent, name = _list_location(resource, path)
        items = _resolve(resource, parent).get(name)
        if not isinstance(items, list):
            items = []
        if kind == "insert":
            index = _index(parts, "index", len(items))
            items.insert(index, _operation_value(parts))
        else:
            source = _index(parts, "source", len(items) - 1)
            destination = _index(parts, "destination", len(items) - 1)
            items.insert(destination, items.pop(source))
        _resolve(resource, parent)[name] = items
        return
    locations = _locate(resource, path)
    if kind == "delete":
        if not locations:
            return  # deleting what is not there changes nothing (fhirpatch.html#delete)
        _remove(resource, _single(resource, locations, path))
        return
    location = _single(resource, locations, path)
    parent = _resolve(resource, location[:-1])
    parent[location[-1]] = _operation_value(parts)


# ---------------------------------------------------------------- locating
def _locate(resource: dict[str, Any], path: str) -> list[list[Any]]:
    """JSON locations (lists of keys and indexes) of what ``path`` selects."""
    found = _evaluate(resource, path)
    if all(isinstance(item, dict) and MARK in item for item in found):
        return [_pointer(item[MARK]) for item in found]
    head, step = _split(path)
    match = STEP.match(step)
    if head is None or match is None:
        raise FhirError(422, "processing", "the path selects a value this server cannot locate; "
                        "end it with an element name (Patient.birthDate) or select whole elements.")
    name, index = match.group(1), match.group(2)
    locations = []
    for parent in _locate(resource, head):
        holder = _resolve(resource, parent)
        if not isinstance(holder, dict):
            continue
        key = name if name in holder else next(
            (k for k in holder if k.startswith(name) and k[len(name):][:1].isupper()), None)  # value[x]
        if key is None:
            continue
        value = holder[key]
        if isinstance(value, list):
            indexes = [int(index)] if index is not None else range(len(value))
            locations += [[*parent, key, i] for i in indexes if i < len(value)]
        elif index in (None, "0"):
            locations.append([*parent, key])
    return locations


def _list_location(resource: dict[str, Any], path: str) -> tuple[list[Any], str]:
    """The element holding the list ``path`` names, and the list's key (for insert and move)."""
    head, step = _split(path)
    match = STEP.match(step)
    if head is None or match is None or match.group(2) is not None:
        raise bad_request("insert and move need a path ending in the list's element name.")
    return _single(resource, _locate(resource, head), head), match.group(1)


def _evaluate(resource: dict[str, Any], path: str) -> list[Any]:
    try:
        return list(evaluate(_marked(resource, []), path, model=models["r4"]))
    except Exception as exc:  # fhirpathpy raises plain Exceptions for bad expressions
        raise bad_request(f"'{path}' is not a FHIRPath expression this server can evaluate ({exc}).") from None


def _marked(node: Any, where: list[Any]) -> Any:
    if isinstance(node, dict):
        return {MARK: "/".join(map(str, where)), **{k: _marked(v, [*where, k]) for k, v in node.items()}}
    if isinstance(node, list):
        return [_marked(v, [*where, i]) for i, v in enumerate(node)]
    return node


def _pointer(text: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in text.split("/") if p != ""]


def _split(path: str) -> tuple[str | None, str]:
    """``Patient.name[0].given`` → (``Patient.name[0]``, ``given``): the last top-level step."""
    depth, quote = 0, False
    for i in range(len(path) - 1, -1, -1):
        ch = path[i]
        if ch == "'":
            quote = not quote
        elif not quote and ch in ")]":
            depth += 1
        elif not quote and ch in "([":
            depth -= 1
        elif not quote and depth == 0 and ch == ".":
            return path[:i], path[i + 1:]
    return None, path


def _single(resource: dict[str, Any], locations: list[list[Any]], path: str) -> list[Any]:
    if len(locations) != 1:
        raise FhirError(422, "processing", f"the path selects {len(locations)} elements; it must select one.")
    return locations[0]


def _resolve(resource: Any, location: list[Any]) -> Any:
    node = resource
    for key in location:
        node = node[key]
    return node


def _remove(resource: dict[str, Any], location: list[Any]) -> None:
    if not location:
        raise FhirError(422, "processing", "a patch cannot delete the resource itself.")
    parent = _resolve(resource, location[:-1])
    del parent[location[-1]]
    if isinstance(parent, list) and not parent and len(location) > 1:
        _remove(resource, location[:-1])  # an emptied list is no element at all in FHIR JSON


# ---------------------------------------------------------------- values
def _value(part: dict[str, Any] | None) -> Any:
    if not part:
        return None
    values = [v for k, v in part.items() if k.startswith("value")]
    if values:
        return values[0]
    if part.get("part"):
        return {p.get("name"): _value(p) for p in part["part"] if isinstance(p, dict)}
    return None


def _operation_value(parts: dict[str, Any]) -> Any:
    value = _value(parts.get("value"))
    if value is None:
        raise bad_request("the operation needs a value.")
    return value


def _index(parts: dict[str, Any], name: str, highest: int) -> int:
    index = _value(parts.get(name))
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= highest:
        raise FhirError(422, "processing", f"{name} must be a whole number from 0 to {highest}.")
    return index


def _is_list(resource: dict[str, Any], location: list[Any]) -> bool:
    """Whether the element at ``location`` repeats (0..*), from the R4B model's field types."""
    model: Any = get_fhir_model_class(str(resource.get("resourceType")))
    keys = [k for k in location if isinstance(k, str)]
    for number, key in enumerate(keys):
        field = model.model_fields.get(key)
        if field is None:
            return False
        repeated, inner = _unwrap(field.annotation)
        if number == len(keys) - 1:
            return repeated
        model = inner.get_model_klass() if hasattr(inner, "get_model_klass") else inner  # the models' lazy types
        if not hasattr(model, "model_fields"):
            return False
    return False


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    repeated = False
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (list, typing.List):  # noqa: UP006
            repeated, annotation = True, args[0]
        elif args and origin is not None:  # Optional[...], Union[...], Annotated[...]
            annotation = args[0]
        else:
            return repeated, annotation

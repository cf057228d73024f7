"""Patches (https://hl7.org/fhir/R4/http.html#patch): JSON Patch (RFC 6902), a partial
resource as JSON merge patch (RFC 7386) and FHIRPath Patch (a Parameters resource, in
``fhirpath_patch``). Used by PATCH on a resource and by PATCH entries of batches and
transactions (a Binary holding the JSON Patch, or the FHIRPath Patch's Parameters)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import jsonpatch

from fhir_server import safe_json
from fhir_server.resources.errors import FhirError, bad_request
from fhir_server.resources.fhirpath_patch import fhirpath_patch

JSON_PATCH = "application/json-patch+json"
FHIRPATH_PATCH = "application/fhir+json"  # a Parameters body


def apply_patch(resource: dict[str, Any], body: Any, kind: str) -> dict[str, Any]:
    """The patched resource; ``kind`` is the patch's media type. Server-owned id and type stay."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters" and kind != JSON_PATCH:
        patched = fhirpath_patch(resource, body)
    elif kind == JSON_PATCH:
        if not isinstance(body, list):
            raise bad_request("A JSON Patch body is a list of operations.")
        try:
            patched = dict(jsonpatch.apply_patch(resource, body))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise FhirError(422, "processing", f"The JSON Patch cannot be applied: {exc}.") from None
    elif isinstance(body, dict):
        patched = merge(resource, body)
    else:
        raise bad_request("A merge patch body is a JSON object.")
    for server_owned in ("id", "resourceType"):
        if patched.get(server_owned) != resource.get(server_owned):
            raise bad_request(f"A patch cannot change {server_owned}.", [server_owned])
    return patched


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386: null removes, objects merge, everything else replaces."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def entry_patch(resource: Any) -> tuple[Any, str]:
    """A Bundle PATCH entry's patch and its kind: a FHIRPath Patch (Parameters) or a JSON Patch
    carried as a Binary (R4 has no other JSON form for it)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
        return resource, FHIRPATH_PATCH
    return patch_from_binary(resource), JSON_PATCH


def patch_from_binary(binary: Any) -> list[Any]:
    """A Bundle PATCH entry's JSON Patch, carried as a Binary."""
    if not isinstance(binary, dict) or binary.get("resourceType") != "Binary":
        raise bad_request("a PATCH entry carries a FHIRPath Patch (Parameters) or its JSON Patch as a Binary "
                          "(contentType application/json-patch+json)")
    if str(binary.get("contentType", "")).split(";")[0].strip() != JSON_PATCH:
        raise bad_request("the PATCH entry's Binary must have contentType application/json-patch+json")
    try:
        operations = safe_json.loads(base64.b64decode(str(binary.get("data", "")), validate=True))
    except (binascii.Error, ValueError):  # BadJson is a ValueError
        raise bad_request("the PATCH entry's Binary data is not base64 JSON") from None
    if not isinstance(operations, list):
        raise bad_request("the PATCH entry's JSON Patch is not a list of operations")
    return operations

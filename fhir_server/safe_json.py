"""JSON from a client, parsed so that no body can crash a request.

``json.loads`` raises more than ``JSONDecodeError`` on hostile input: ``RecursionError`` for
deeply nested arrays (100,000 ``[``), ``ValueError`` for an integer of more than 4,300 digits
(Python's guard against quadratic conversion). Both become :class:`BadJson` with a sentence that
says what is wrong, and nesting is bounded well below the interpreter's stack so that
validation and indexing, which walk the document, are safe too.
"""

from __future__ import annotations

import json
from typing import Any

#: Deeper than any FHIR resource needs (nested QuestionnaireResponse items, contained resources).
MAX_DEPTH = 100


class BadJson(ValueError):
    """Client JSON that cannot be accepted; the message is for the client."""


def loads(raw: bytes | bytearray | str) -> Any:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadJson(f"it is nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise BadJson("it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadJson(str(exc)) from None
    except ValueError as exc:  # int digit limit
        if "digits" in str(exc):
            raise BadJson("a number in it has too many digits (at most 4300)") from None
        raise BadJson(str(exc)) from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise BadJson(f"it is nested deeper than {MAX_DEPTH} levels")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False

"""Form errors the same way on every form: one summary above the form that takes the focus
(``static/forms.js``) and links each message to its field, and on each invalid field
``aria-invalid`` with ``aria-describedby`` pointing at its message.

A ``Problem`` is the message string itself (so code and tests that treat problems as text keep
working) carrying the ids of the fields it is about; a problem about the whole form names none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from markupsafe import Markup


class Problem(str):
    """A message for the person, and the ids of the inputs it is about."""

    fields: tuple[str, ...]

    def __new__(cls, message: str, *fields: str) -> Problem:
        problem = super().__new__(cls, message)
        problem.fields = tuple(f for f in fields if f)
        return problem


def _fields(problem: str) -> tuple[str, ...]:
    return getattr(problem, "fields", ())


def _real(problems: Iterable[Any] | None) -> list[str]:
    """The problems that are there: templates pass ``[error]`` whether or not there is one."""
    return [p for p in problems or [] if isinstance(p, str) and p]


def problem_id(index: int) -> str:
    return f"problem-{index}"


def error_summary(problems: Iterable[Any] | None, intro: str = "") -> Markup:
    """The summary (``role=alert``, focusable); each message links to its first field."""
    problems = _real(problems)
    if not problems:
        return Markup("")
    items = []
    for index, problem in enumerate(problems, start=1):
        fields = _fields(problem)
        text = Markup('<a href="#{}">{}</a>').format(fields[0], problem) if fields else Markup.escape(problem)
        items.append(Markup('<li id="{}">{}</li>').format(problem_id(index), text))
    head = Markup('<p class="error-summary-intro"><strong>{}</strong></p>').format(intro) if intro else Markup("")
    return Markup('<div class="notice error error-summary" role="alert" tabindex="-1" data-error-summary>'
                  '{}<ul>{}</ul></div>').format(head, Markup("").join(items))


def invalid(problems: Iterable[Any] | None, field: str, hint: str = "") -> Markup:
    """`` aria-invalid="true" aria-describedby="…"`` for ``field`` when a problem names it
    (``hint``: the id of the field's own hint, kept in the description)."""
    messages = [problem_id(i) for i, p in enumerate(_real(problems), start=1) if field in _fields(p)]
    described = " ".join([hint, *messages]).strip()
    out = Markup(' aria-invalid="true"') if messages else Markup("")
    if described:
        out += Markup(' aria-describedby="{}"').format(described)
    return out

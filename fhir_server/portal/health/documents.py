"""Documents (DocumentReference) for the health pages: the list, its filters and paging.

Lists read through the search engine under the one door (newest ``date`` first, current
documents only); paging follows the engine's keyset cursors, so nothing repeats or goes
missing when documents arrive between pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.portal.forms import Problem
from fhir_server.portal.health.dates import Period, short_date
from fhir_server.portal.health.labs import concept_text
from fhir_server.portal.health.records import cursor_of, matches, search_all, search_page
from fhir_server.portal.viewing import Viewing
from fhir_server.resources.errors import FhirError
from fhir_server.services import Services

RECENT = 6
PER_PAGE = 20
KINDS = {"application/pdf": "PDF", "text/plain": "Text", "text/html": "Web page", "image/png": "Image",
         "image/jpeg": "Image", "image/gif": "Image", "image/webp": "Image"}


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    type: str
    date: str
    when: str
    author: str
    category: str
    kind: str  # "PDF", "Text"… (what opens when you click)


@dataclass
class DocPage:
    docs: list[Doc]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    error: str | None = None
    type_options: list[tuple[str, str]] = field(default_factory=list)


def type_token(concept: dict[str, Any] | None) -> str:
    coding = next((c for c in (concept or {}).get("coding", []) if c.get("code")), None)
    return f"{coding.get('system', '')}|{coding['code']}" if coding else ""


def _generic(category: dict[str, Any]) -> bool:
    """US Core's "Clinical Note" category, which every note carries: saying it on each row says nothing."""
    return any(c.get("code") == "clinical-note" for c in category.get("coding", [])) or \
        concept_text(category).strip().lower() == "clinical note"


def to_doc(resource: dict[str, Any]) -> Doc:
    attachment = next((c.get("attachment", {}) for c in resource.get("content", [])), {})
    doc_type = concept_text(resource.get("type"))
    title = resource.get("description") or attachment.get("title") or doc_type or "Document"
    authors = [a.get("display") or a.get("reference", "") for a in resource.get("author", [])]
    date = str(resource.get("date") or attachment.get("creation") or "")
    content_type = str(attachment.get("contentType", "")).split(";")[0].strip().lower()
    return Doc(id=str(resource.get("id")), title=str(title), type=doc_type, date=date, when=short_date(date),
               author=", ".join(a for a in authors if a), category=", ".join(
                   concept_text(c) for c in resource.get("category", []) if concept_text(c) and not _generic(c)),
               kind=KINDS.get(content_type, "File"))


async def recent(services: Services, view: Viewing, count: int = RECENT) -> list[Doc]:
    """The most recent current documents (one indexed query)."""
    bundle = await search_page(services, view, "DocumentReference",
                               [("status", "current"), ("_sort", "-date"), ("_count", str(count)), ("_total", "none")])
    return [to_doc(r) for r in matches(bundle)]


async def type_options(services: Services, view: Viewing) -> list[tuple[str, str]]:
    """The document types this patient has, for the filter (token, label), by label."""
    seen: dict[str, str] = {}
    async for resource in search_all(services, view, "DocumentReference",
                                     [("status", "current"), ("_elements", "type")]):
        token = type_token(resource.get("type"))
        if token:
            seen.setdefault(token, concept_text(resource.get("type")) or token)
    return sorted(seen.items(), key=lambda item: item[1].lower())


async def page(services: Services, view: Viewing, *, doc_type: str, period: Period, cursor: str | None) -> DocPage:
    """One page of the patient's documents, filtered by type and date range."""
    options = await type_options(services, view)
    if period.error:
        return DocPage([], error=period.error, type_options=options)
    if doc_type and doc_type not in dict(options):
        return DocPage([], error=Problem("There are no documents of that type. Choose a type from the list.", "type"),
                       type_options=options)
    params: list[tuple[str, str]] = [("status", "current"), ("_sort", "-date"), ("_count", str(PER_PAGE)),
                                     ("_total", "none"), *period.search_params("date")]
    if doc_type:
        params.append(("type", doc_type))
    if cursor:
        params.append(("_cursor", cursor))
    try:
        bundle = await search_page(services, view, "DocumentReference", params)
    except FhirError as error:
        if error.status != 400:
            raise
        return DocPage([], error="That page of documents is no longer available. Start again from the first page.",
                       type_options=options)
    return DocPage([to_doc(r) for r in matches(bundle)], cursor_of(bundle, "next"), cursor_of(bundle, "previous"),
                   type_options=options)

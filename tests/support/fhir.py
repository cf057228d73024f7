"""Reading the FHIR API as a client does."""

from __future__ import annotations

from typing import Any

import httpx


def follow(client: httpx.Client, response: httpx.Response, *, matches_only: bool = False) -> list[dict[str, Any]]:
    """Every resource of a paged Bundle, following its ``next`` links as given."""
    resources: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        bundle = response.json()
        resources += [e["resource"] for e in bundle.get("entry", [])
                      if not matches_only or e.get("search", {}).get("mode", "match") == "match"]
        following = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
        if not following:
            return resources
        response = client.get(following[0])


def all_pages(client: httpx.Client, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every matching resource of a search (or ``$everything``), all pages."""
    return follow(client, client.get(path, params=params), matches_only=True)

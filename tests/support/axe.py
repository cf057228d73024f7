"""axe-core (npm, pinned in tests/js) run inside a page: the WCAG 2.0/2.1 A and AA rules.

The source is evaluated through the DevTools protocol, which the page's Content-Security-Policy
(scripts from /static only) does not govern, so pages are checked exactly as they are served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

_RUN = """async tags => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 4).map(n => n.target.join(" ") + " :: " +
                                                                      (n.failureSummary || "").slice(0, 160))}));
}"""


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's WCAG A/AA violations of the page as it is now (axe is injected once per document)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        assert AXE.exists(), f"{AXE} is missing: run `make tests/js/node_modules/.installed`"
        page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(_RUN, TAGS)
    return found


def check(page: Page, state: str, problems: list[str], *, widths: tuple[dict[str, int], ...] = (PHONE, DESKTOP)
          ) -> None:
    """axe at phone and desktop width; each violation is added to ``problems`` as a line naming
    the page state, so that one walk reports every page that fails rather than the first."""
    size = page.viewport_size or DESKTOP
    for viewport in widths:
        page.set_viewport_size(viewport)
        for v in violations(page):
            problems.append(f"{state} @{viewport['width']}px: {v['id']} ({v['impact']}) {v['help']} -> {v['nodes']}")
    page.set_viewport_size(size)

"""Where the time goes, from py-spy's raw (collapsed) stacks that ``bench.speed --profile`` writes.

    .venv/bin/python -m bench.profile_summary DIR [--top 12]

For each phase: the share of samples by library (self time: the innermost frame) and the
CareSpace functions with the largest inclusive share. py-spy samples threads that are running,
not the event loop waiting on a socket, so the shares are of the server's CPU time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
LIBRARIES = [
    ("fhir_server/", "CareSpace"),
    ("bson/", "BSON"),
    ("pymongo/", "pymongo"),
    ("fastapi/", "FastAPI"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn"),
    ("pydantic", "pydantic"),
    ("fhir/resources", "fhir.resources"),
    ("jwt/", "PyJWT"),
    ("cryptography/", "cryptography"),
    ("asyncio/", "asyncio"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("email/", "email (HTTP dates)"),
    ("multiprocessing/", "multiprocessing"),
    ("concurrent/", "concurrent"),
]


def library(path: str) -> str:
    for marker, name in LIBRARIES:
        if path.startswith(marker) or f"/{marker}" in path:
            return name
    return "other"


def summarize(path: Path, top: int) -> list[str]:
    by_library: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        if stack.startswith("Thread._bootstrap") and "fhir_server/" not in stack:
            continue  # an idle pool thread waiting for work (py-spy samples it in its wait)
        frames = [FRAME.match(f) for f in stack.split(";")]
        parsed = [(m.group("func"), m.group("file")) for m in frames if m]
        if not parsed:
            continue
        total += samples
        by_library[library(parsed[-1][1])] += samples
        seen: set[str] = set()
        for func, file in parsed:
            if "fhir_server/" in file:
                name = f"{file.split('fhir_server/', 1)[1]}:{func}"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += samples
    if not total:
        return [f"{path.stem}: no samples"]
    out = [f"{path.stem}: {total} samples",
           "  self time by library: " + ", ".join(f"{name} {n / total:.0%}" for name, n in by_library.most_common())]
    out += [f"  {n / total:>5.0%}  {name}" for name, n in inclusive.most_common(top)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    for path in sorted(args.folder.glob("*.txt")):
        print("\n".join(summarize(path, args.top)))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

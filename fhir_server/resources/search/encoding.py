"""Value encodings shared by the write-time index and the query side.

FHIR R4 search (https://hl7.org/fhir/R4/search.html) compares dates as ranges
at the precision given (search.html#date), strings case- and
accent-insensitively (search.html#string) and numbers at their implicit
precision (search.html#number).  The index stores every value as a plain
string so that each predicate is one indexed field:

* dates: fixed-width UTC ``YYYY-MM-DDTHH:MM:SS.fffZ`` lower and upper bounds;
* strings: lower-case, accents stripped, whitespace collapsed;
* numbers: 16 hex digits of the IEEE-754 double with the order-preserving
  bit twist, so string order equals numeric order.
"""

from __future__ import annotations

import calendar
import re
import struct
import unicodedata
from datetime import UTC, datetime, timedelta
from functools import lru_cache

SEP = "\x1f"  #: separates the parameter name from the value in index entries
HIGH = "\U0010ffff"  #: sorts after every value; upper bound of prefix ranges
# Parsed dates and normalised strings repeat within a record (an encounter's dates, a code's
# display), not across the server's life: 4,096 entries keep every hit of a Synthea import
# (41,093 of 48,924 lookups, the same as 65,536 did), and bound each cache at ~2 MB. At 65,536,
# each write's unique lastUpdated instant grew the server by ~0.8 MB a minute for half an hour.
CACHE_ENTRIES = 4096

_DATE_RE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _fmt(dt: datetime) -> str:
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
            f".{dt.microsecond // 1000:03d}Z")


@lru_cache(maxsize=CACHE_ENTRIES)
def date_range(value: str) -> tuple[str, str] | None:
    """Return the (lo, hi) UTC bounds of a FHIR date/dateTime/instant at its precision.

    ``2020`` → 2020-01-01T00:00:00.000Z .. 2020-12-31T23:59:59.999Z; a time
    without zone is taken as UTC.  Returns ``None`` if the value is not a date.
    """
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        year = int(y)
        if mo is None:
            lo = datetime(year, 1, 1)
            hi = datetime(year, 12, 31, 23, 59, 59, 999000)
        elif d is None:
            month = int(mo)
            last = calendar.monthrange(year, month)[1]
            lo = datetime(year, month, 1)
            hi = datetime(year, month, last, 23, 59, 59, 999000)
        elif hh is None:
            lo = datetime(year, int(mo), int(d))
            hi = lo + timedelta(hours=23, minutes=59, seconds=59, milliseconds=999)
        else:
            base = datetime(year, int(mo), int(d), int(hh), int(mi))
            if ss is None:
                lo, hi = base, base + timedelta(seconds=59, milliseconds=999)
            elif frac is None:
                lo = base.replace(second=int(ss))
                hi = lo + timedelta(milliseconds=999)
            else:
                ms = int((frac[1:] + "000")[:3])
                lo = hi = base.replace(second=int(ss), microsecond=ms * 1000)
            if tz and tz != "Z":
                sign = 1 if tz[0] == "+" else -1
                off = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])) * sign
                lo, hi = lo - off, hi - off
    except ValueError:
        return None
    return _fmt(lo), _fmt(hi)


def datetime_to_key(dt: datetime) -> str:
    """Encode an aware or naive-UTC datetime as the fixed-width index string."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return _fmt(dt)


def key_to_datetime(key: str) -> datetime:
    """Decode a fixed-width index string back to an aware UTC datetime."""
    return datetime.strptime(key, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


_STRIP_WS = re.compile(r"\s+")


@lru_cache(maxsize=CACHE_ENTRIES)
def norm(text: str) -> str:
    """Normalise a string for matching: accents stripped, case folded, spaces collapsed."""
    if text.isascii():
        return _STRIP_WS.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _STRIP_WS.sub(" ", stripped.casefold()).strip()


def num_key(value: float) -> str:
    """Order-preserving 16-hex-digit encoding of a float (string order = numeric order)."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", float(value) + 0.0))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def key_num(key: str) -> float:
    """Inverse of :func:`num_key`."""
    bits = int(key, 16)
    bits = bits & ~(1 << 63) if bits >> 63 else bits ^ 0xFFFFFFFFFFFFFFFF
    return struct.unpack(">d", struct.pack(">Q", bits))[0]

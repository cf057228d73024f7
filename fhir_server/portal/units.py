"""UCUM units as lab reports print them: "10*3/uL" → "×10³/µL", "umol/L" → "µmol/L",
"mm[Hg]" → "mmHg", "[IU]/L" → "IU/L", "{cells}/uL" → "cells/µL".

A small mapping over UCUM's syntax (powers of ten, the micro prefix written "u", square
brackets around special units, curly-brace annotations), not a UCUM parser: a unit it does
not recognise is printed as it came. The unit text a lab wrote (``10^3/uL``) gets the same.
"""

from __future__ import annotations

import re

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# "10*3", "10^3" and "10E3" at the start of an atom (UCUM writes 10*3; labs' texts 10^3)
_POWER = re.compile(r"(?<![\w.])10[*^Ee](-?\d+)")
# the micro prefix "u" before a unit atom: ug, uL, umol, uIU, u[IU], ukat
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(?:g|L|l|mol|IU|\[IU\]|kat|m|eq|Eq)\b|(?:mol|IU|\[IU\]|kat))")
_BRACKETS = re.compile(r"\[([^\]]+)\]")
_BRACES = re.compile(r"\{([^}]*)\}")
# Whole units that read better another way on a report.
SPECIAL = {"1": "", "{count}": "", "%": "%", "{ratio}": "", "/[HPF]": "/hpf", "/[LPF]": "/lpf",
           "[pH]": "", "mm[Hg]": "mmHg", "Cel": "°C", "[degF]": "°F", "[in_i]": "in", "[lb_av]": "lb",
           "kg/m2": "kg/m²", "m2": "m²", "mL/min/{1.73_m2}": "mL/min/1.73 m²"}


def display_unit(unit: str | None) -> str:
    """The unit as a person reads it on a lab report."""
    if not unit:
        return ""
    text = unit.strip()
    if text in SPECIAL:
        return SPECIAL[text]
    text = _POWER.sub(lambda m: "×10" + m.group(1).translate(SUPERSCRIPT), text)
    text = _MICRO.sub("µ", text)
    text = _BRACKETS.sub(r"\1", text)
    text = _BRACES.sub(lambda m: m.group(1).replace("_", " "), text)
    return text

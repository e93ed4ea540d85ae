"""Figures quoted in the docs' prose, each tied to the committed JSON it comes from.

A measured number in README.md or docs/*.md is written as an inline span whose comment
names its source, and ``serumrnn results`` rewrites the text between the markers::

    the verified loop removed <!-- fig:basic_shapes/verified.json#verified.delta_pct.mse pct -->−80.6 %<!-- /fig -->

The comment is invisible once Markdown is rendered. ``SOURCE#KEY`` names a JSON file under
docs/results/ (a glob: ``*/plugins.json`` reads every group's) and a dotted key in it, where
``*`` takes every key or item at that level (``%20`` stands for a space in a key); ``FORMAT`` (below) turns the values found into
text. Tables come from the same JSON through ``result_figures`` (``<!-- results:NAME -->``
blocks). ``unmarked`` finds figures typed by hand, so the docs test can fail on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

MINUS = "\u2212"  # the docs' minus sign (a hyphen reads as a dash in running text)

_SPAN = re.compile(r"<!-- fig:(\S+?)#(\S+) (\w+) -->(.*?)<!-- /fig -->", re.S)


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"expected a number, got {x!r}")
    return float(x)


def _signed(x: float, decimals: int) -> str:
    text = f"{abs(x):,.{decimals}f}"
    return f"{MINUS}{text}" if round(x, decimals) < 0 else text


def _one(values: list[Any]) -> float:
    if len(values) != 1:
        raise ValueError(f"this format takes one value, the key found {len(values)}")
    return _num(values[0])


def _range(values: list[Any], decimals: int) -> str:
    lo, hi = min(map(_num, values)), max(map(_num, values))
    a, b = _signed(lo, decimals), _signed(hi, decimals)
    return a if a == b else f"{a}–{b}"


def _ratio(values: list[Any]) -> float:
    if len(values) != 2:
        raise ValueError(f"a ratio takes two values, the key found {len(values)}")
    return _num(values[0]) / _num(values[1])


def _diffs(values: list[Any]) -> list[float]:
    """Each pair's first value less its second (a key ``a,b`` over one or more files)."""
    if not values or len(values) % 2:
        raise ValueError(f"a difference takes pairs of values, the key found {len(values)}")
    return [_num(a) - _num(b) for a, b in zip(values[::2], values[1::2], strict=True)]


#: How a span's values become text: one value unless the name says range or sum.
FORMATS: dict[str, Callable[[list[Any]], str]] = {
    "pct": lambda v: f"{_signed(_one(v), 1)} %",
    "pct0": lambda v: f"{_signed(_one(v), 0)} %",
    "num": lambda v: _signed(_one(v), 1),
    "num0": lambda v: _signed(_one(v), 0),
    "num2": lambda v: _signed(_one(v), 2),
    "num3": lambda v: _signed(_one(v), 3),
    "share": lambda v: f"{_signed(100 * _one(v), 1)} %",  # a fraction shown as a percentage
    "share0": lambda v: f"{_signed(100 * _one(v), 0)} %",
    "sharerange": lambda v: f"{_range([100 * _num(x) for x in v], 1)} %",
    "ms": lambda v: f"{_one(v):.1f} ms",
    "ms0": lambda v: f"{_one(v):.0f} ms",
    "s": lambda v: f"{_one(v):.1f} s",
    "s2": lambda v: f"{_one(v):.2f} s",
    "s0": lambda v: f"{_one(v):,.0f} s",
    "sum_s0": lambda v: f"{sum(map(_num, v)):,.0f} s",
    "min0": lambda v: f"{_one(v):,.0f} min",
    "minsec": lambda v: f"{int(_one(v) // 60)} min {round(_one(v) % 60)} s",
    "range0": lambda v: _range(v, 0),
    "range": lambda v: _range(v, 1),
    "absrange0": lambda v: _range([abs(_num(x)) for x in v], 0),
    "sum0": lambda v: f"{sum(map(_num, v)):,.0f}",
    "count": lambda v: f"{len(v):,}",
    "true": lambda v: f"{sum(1 for x in v if x is True):,}",  # how many of the values are true
    "text": lambda v: ", ".join(map(str, v)),
    "ratio2": lambda v: _signed(_ratio(v), 2),  # the first value over the second
    "diff": lambda v: _signed(_one(_diffs(v)), 1),  # the first value less the second, in points
    "diff0": lambda v: _signed(_one(_diffs(v)), 0),
    "min2": lambda v: _signed(min(map(_num, v)), 2),
    "max": lambda v: _signed(max(map(_num, v)), 1),
    "min": lambda v: _signed(min(map(_num, v)), 1),
    "min3": lambda v: _signed(min(map(_num, v)), 3),
    "diffrange": lambda v: _range(_diffs(v), 1),  # each file's difference, lowest to highest
    "diffrange0": lambda v: _range(_diffs(v), 0),
}


def _walk(node: Any, keys: list[str]) -> list[Any]:
    if not keys:
        return [node]
    head, rest = keys[0], keys[1:]
    if head == "*":
        items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        return [v for item in items for v in _walk(item, rest)]
    if isinstance(node, dict):
        if head not in node:
            raise KeyError(head)
        return _walk(node[head], rest)
    if isinstance(node, list):
        return _walk(node[int(head)], rest)
    raise KeyError(head)


def values(results: Path, source: str, key: str) -> list[Any]:
    """Every value ``key`` names in the JSON files ``source`` matches (sorted by path); a key
    ``a,b`` names two values, in that order."""
    files = sorted(results.glob(source))
    if not files:
        raise FileNotFoundError(f"no JSON under {results} matches {source!r}")
    found: list[Any] = []
    for f in files:
        try:
            data = json.loads(f.read_text())
            for one in key.split(","):  # several keys, in order (a ratio takes two)
                found += _walk(data, [unquote(k) for k in one.split(".")])  # %20 for a space
        except (KeyError, IndexError, ValueError) as e:
            raise KeyError(f"{f.relative_to(results).as_posix()} has no {key!r} ({e})") from e
    return found


def render(results: Path, source: str, key: str, fmt: str) -> str:
    """The text of one span."""
    if fmt not in FORMATS:
        raise KeyError(f"unknown figure format {fmt!r} (known: {', '.join(FORMATS)})")
    return FORMATS[fmt](values(results, source, key))


def fill(text: str, results: Path) -> str:
    """``text`` with every figure span rewritten from the JSON."""

    def sub(m: re.Match[str]) -> str:
        source, key, fmt = m.group(1), m.group(2), m.group(3)
        return f"<!-- fig:{source}#{key} {fmt} -->{render(results, source, key, fmt)}<!-- /fig -->"

    return _SPAN.sub(sub, text)


#: A number, with its sign, or a range of two (``365–615``, ``0.51–0.64``).
_NUM = r"[−+]?\d[\d,]*(?:\.\d+)?"
_RANGE = rf"{_NUM}(?:\s?[–-]\s?{_NUM})?"
_UNIT = r"%|(?:ms|s|sec|seconds?|min|minutes?|h|hours?|[kKMGT]i?B|bytes?)\b"
#: What is measured and counted: "N pairs" is a figure, "five effects" (from the spec) is a word.
_COUNTED = (
    r"pairs?|targets?|cases?|sessions?|steps?|renders?|captures?|clients?|tests?|runs?|epochs?"
    r"|examples?|calls?|datagrams?|records?|clips?|words?|lines?|parameters?|points?"
)
#: A figure typed by hand, the first alternative that fits: a number with a unit; a ratio
#: (``3.27x``, ``1.16 ×``, ``×3.3``, but not a shape like ``128 × 87``); a count out of a
#: total (``2 of 7``, ``16 of them``, ``1 time in 8``, ``83/120``, ``−77.8 / −75.8 / −81.2``); a signed change (``−3.08``);
#: a count of measured things (``100 pairs``); a table cell that is only a number; a number
#: with decimals (``0.94``; a knob value or other constant is written as code).
_FIGURE = re.compile(
    rf"(?<![\w.]){_RANGE}\s?(?:{_UNIT})"
    rf"|(?<![\w.]){_RANGE}\s?[×x](?!\s?\d)(?!\w)"
    rf"|(?<!\d\s)(?<![\w.])×\s?{_NUM}"
    rf"|(?<![\w.]){_NUM}\s+(?:out\s+)?of\s+(?:the\s+|all\s+)?{_NUM}(?!\w|\.\d)"
    rf"|(?<![\w.]){_NUM}\s+(?:of\s+(?:them|these|those)|times?\s+in\s+{_NUM})\b"
    rf"|(?<![\w./-]){_RANGE}(?:\s?/\s?{_RANGE})+(?![\w/]|\.\d)"
    rf"|(?<![\w.]){_RANGE}\s+(?:{_COUNTED})\b"
    rf"|(?<![\w.-])[−+-]\d[\d,]*(?:\.\d+)?(?!\w|\.\d)"
    rf"|(?<=\|\s){_RANGE}(?=\s\|)"
    r"|(?<![\w.])\d+\.\d+(?!\w|\.\d)"
)
#: A stated goal, bound or setting (after ≤, =, ±, "goal", "default", "every" ..., or before
#: "goal", "budget" ...) is a number we chose, not one we measured.
_BOUND = re.compile(
    r"(?:≤|≥|<=|>=|<|>|=|±|less than|more than|goal(?: of|:)?|bound|within|under|over|at most|at least|would be|up to|default:?"
    r"|every|budget|limit|timeout|exceeds?|above|below)\s*\(?\**$",
    re.I,
)
_BOUND_AFTER = re.compile(r"\s*(?:goal|budget|limit|timeout|cap|deadline)\b", re.I)
#: Versions (Python 3.11, 3.12 or 3.13; spec 2.0; OSC 1.0; GPL-3.0; the paper's section 4.4).
_VERSION = re.compile(
    r"\b(?:Python|spec|version|OSC|CommonJS|GPL-|manylinux|section|Live|Max|macOS|Windows)\s*"
    r"\d+(?:\.\d+)+(?:(?:,\s*|\s+(?:and|or|to)\s+)\d+(?:\.\d+)+)*"
)
_GENERATED = re.compile(r"<!-- results:\w+(?: \S+)? -->.*?<!-- /results -->|<!-- fig:.*?<!-- /fig -->", re.S)
#: Not prose: code (a constant, an option, a program's output), comments and link targets.
_NOT_PROSE = re.compile(r"```.*?```|`(?:[^`\n]|\n(?![ \t]*\n))+`|<!--.*?-->|\]\([^)\s]*\)|https?://\S+", re.S)


def _blank(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(lambda m: " " * len(m.group()), text)


def unmarked(text: str) -> list[str]:
    """Figures in ``text`` outside generated blocks, spans and code: each a line to mark up.

    The rule (``_FIGURE``): a number with a unit, a ratio, a count out of a total, a signed
    change, a count of measured things, a numeric table cell or a number with decimals is a
    measurement, so it must come from JSON. Not figures: code (write a constant, an option, a
    knob value or printed output as code), versions, and goals, bounds and settings phrased
    as such (``_BOUND``: after ≤, =, ±, "goal", "default", "every", "above" ...). A count the
    spec fixes is a word ("five effects"). Bare integers (ids, MIDI notes, list numbers) are
    not checked."""
    blank = _blank(_VERSION, _blank(_NOT_PROSE, _blank(_GENERATED, text)))
    found = []
    for m in _FIGURE.finditer(blank):
        before = blank[max(0, m.start() - 12) : m.start()]
        if not _BOUND.search(before) and not _BOUND_AFTER.match(blank, m.end()):
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"line {line}: {m.group()}")
    return found

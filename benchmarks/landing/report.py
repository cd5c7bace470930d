"""The landing cases in ``bench``'s table: their notes, and the ratios measured in one run.

Ratios (each line of ``comparisons`` in results.json):

- ``speed``: a landing case's rate here over its rate at the baseline revision (``--baseline-ref``),
  same case and database (issue 14's bar: >= 3x for education);
- ``memory``: peak RSS at the largest size over the smallest, same case and database (bar: <= 1.2);
- ``peer``: the FHIR gateway's rate over a peer's on the same bytes (bar: >= 2.0 against
  ``model-validate``), taken from the peer lines.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

LANDING = ("fhir-landing", "landing-edfi-json", "landing-edfi-xml", "landing-oneroster", "district-year")
PEER_PREFIX = "fhir-landing-peer-"


def _share(line: dict[str, Any]) -> str:
    share = line.get("decide_share")
    return "decide share unknown" if share is None else f"decide {share * 100:.3f}% of ingest"


def landing_note(line: dict[str, Any]) -> str | None:
    bench = str(line.get("bench", ""))
    if bench.startswith(PEER_PREFIX):
        return f"gateway / this peer = {line['gateway_ratio']:.2f}x, median of {line['rounds']}"
    if bench not in LANDING or "skipped" in line:
        return None
    parts = [f"all {line['records']:,} accepted", _share(line)]
    if "elements_changed" in line:
        parts.insert(1, f"{line['elements_changed']:,} plan elements changed")
    if "us_per_record" in line:
        parts.append(f"{line['us_per_record']} µs/record")
    if "baseline_rss_mb" in line:
        parts.append(f"baseline RSS {line['baseline_rss_mb']:.0f} MB")
    return ", ".join(parts)


def _key(line: dict[str, Any]) -> tuple[str, str]:
    return str(line["bench"]), str(line.get("db", ""))


def comparisons(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    landed = [x for x in lines if x.get("bench") in LANDING and "records_per_second" in x]
    found: list[dict[str, Any]] = []
    here = {(_key(x), x["records"]): x for x in landed if not x.get("ref")}
    for line in landed:
        mine = here.get((_key(line), line["records"])) if line.get("ref") else None
        if mine is not None:
            found.append(
                {
                    "kind": "speed",
                    "case": f"{line['bench']} {line.get('db', '')} {line['records']:,}",
                    "against": line["ref"],
                    "ratio": round(mine["records_per_second"] / line["records_per_second"], 2),
                    "here": mine["records_per_second"],
                    "there": line["records_per_second"],
                }
            )
    sizes: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in here.values():
        if "peak_rss_mb" in line:
            sizes[_key(line)].append(line)
    for key, group in sizes.items():
        if len(group) > 1:
            small, large = min(group, key=lambda x: x["records"]), max(group, key=lambda x: x["records"])
            found.append(
                {
                    "kind": "memory",
                    "case": f"{key[0]} {key[1]} {small['records']:,} -> {large['records']:,}",
                    "ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
                    "here": large["peak_rss_mb"],
                    "there": small["peak_rss_mb"],
                }
            )
    return found


def comparison_rows(found: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for c in found:
        if c["kind"] == "speed":
            what = f"{c['here']:,.0f} rec/s here against {c['there']:,.0f} at {c['against']}"
            rows.append((f"speed ratio {c['case']}", "-", "-", "-", "-", f"{c['ratio']:.2f}x: {what}"))
        else:
            what = f"peak RSS {c['here']:.0f} MB against {c['there']:.0f} MB"
            rows.append((f"memory ratio {c['case']}", "-", "-", "-", "-", f"{c['ratio']:.2f}x: {what}"))
    return rows

"""Look for leaked secrets: any ``sbx-`` value (the sandbox prefixes every secret it issues) in
Prefect's database, logs, result storage, artifacts, events and flow-run parameters.

    python -m scripts.hygiene --api http://127.0.0.1:4200/api .state/prefect .state/logs

Exit code 1 and one line per finding (with the value masked) when anything is found.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from scripts.deploy import prefect_api

__all__ = ["SECRET_PATTERN", "Finding", "scan_api", "scan_paths", "scan_sqlite"]

SECRET_PATTERN = re.compile(rb"sbx-[A-Za-z0-9_.~+/=-]{6,}")
"""A sandbox-issued value; the bare prefix (in docs or messages) is not a secret."""

_PAGE = 200  # Prefect's default API page limit


@dataclass(frozen=True)
class Finding:
    """Where a secret was seen; ``preview`` shows only its first characters."""

    location: str
    preview: str

    def __str__(self) -> str:
        return f"{self.location}: {self.preview}"


def _preview(match: bytes) -> str:
    return match[:8].decode(errors="replace") + "…"


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def scan_paths(paths: Iterable[Path]) -> list[Finding]:
    """Every file under ``paths`` byte by byte (SQLite files and their WAL included)."""
    findings: list[Finding] = []
    for file in _files(paths):
        data = file.read_bytes()
        findings.extend(
            Finding(f"{file} (byte {m.start()})", _preview(m.group()))
            for m in SECRET_PATTERN.finditer(data)
        )
        if data.startswith(b"SQLite format 3\x00"):
            findings.extend(scan_sqlite(file))
    return findings


def scan_sqlite(database: Path) -> list[Finding]:
    """Every text and blob column of every table, to name the table, column and row of a leak."""
    findings: list[Finding] = []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                query = (
                    f'SELECT rowid, CAST("{column}" AS BLOB) FROM "{table}" '  # noqa: S608 - names from the schema
                    f"WHERE instr(CAST(\"{column}\" AS BLOB), CAST('sbx-' AS BLOB)) > 0"
                )
                for rowid, value in connection.execute(query):
                    findings.extend(
                        Finding(f"{database}: {table}.{column} rowid {rowid}", _preview(m.group()))
                        for m in SECRET_PATTERN.finditer(value)
                    )
    return findings


def _json_findings(location: str, item: Any) -> list[Finding]:
    text = json.dumps(item, default=str).encode()
    return [Finding(location, _preview(m.group())) for m in SECRET_PATTERN.finditer(text)]


def _paged(client: httpx2.Client, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        response = client.post(path, json={**body, "limit": _PAGE, "offset": offset})
        response.raise_for_status()
        page = response.json()
        yield from page
        if len(page) < _PAGE:
            return
        offset += _PAGE


def scan_api(api_url: str) -> list[Finding]:
    """Artifacts, events, logs, flow-run parameters and variables, read through Prefect's API."""
    findings: list[Finding] = []
    with prefect_api(api_url) as client:
        for kind in ("artifacts", "logs", "flow_runs", "variables"):
            for item in _paged(client, f"{kind}/filter", {}):
                findings.extend(_json_findings(f"API {kind} {item.get('id')}", item))
        response = client.post("events/filter", json={"limit": 50})
        while True:
            response.raise_for_status()
            page = response.json()
            for event in page["events"]:
                findings.extend(_json_findings(f"API event {event['event']} {event['id']}", event))
            if not page.get("next_page"):
                break
            response = client.get(page["next_page"])
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.hygiene", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="files or directories to scan")
    parser.add_argument("--api", help="a Prefect API URL whose records to scan")
    args = parser.parse_args(argv)
    findings = scan_paths(args.paths)
    if args.api:
        findings.extend(scan_api(args.api))
    for finding in findings:
        print(finding)
    print(f"secret scan: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

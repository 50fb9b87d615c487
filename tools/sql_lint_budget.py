"""SQL style budget: sqlfluff violations per 100 lines of SQL, failing above the budget.

Reads sqlfluff's JSON report (``sqlfluff lint --format json``) and counts the lines of the
SQL files it covered. Files dbt disables for this target (the other warehouse's model of the
same name) are linted by no one, so their lines are left out of the figure rather than
counted as clean.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

# Issue #13 asks for 3.0 (jaffle-shop: 2.9). Measured 18.5 on main, 3.49 after the restyle, then
# the long lines outside the identity, audience and trait models were broken up: the budget is
# the 3.0 (a ratchet: lower it, never raise it).
BUDGET_PER_100_LINES = 3.0
# A file sqlfluff could not template or parse has no meaningful style count: treat it as a failure.
UNLINTABLE = ("TMP", "PRS")


def figure(report: list[dict], root: Path) -> dict:
    """Style violations per 100 SQL lines over the files the report covers."""
    codes: collections.Counter[str] = collections.Counter()
    per_file: dict[str, int] = {}
    lines = 0
    for entry in report:
        if not entry.get("statistics", {}).get("segments") and not entry.get("violations"):
            continue  # disabled for this target: dbt rendered nothing, sqlfluff linted nothing
        path = Path(entry["filepath"])
        if not path.is_absolute():
            path = root / path
        lines += len(path.read_text(encoding="utf-8").splitlines())
        violations = entry.get("violations", [])
        per_file[str(path.relative_to(root))] = len(violations)
        codes.update(v.get("code", "?") for v in violations)
    style = sum(n for code, n in codes.items() if code not in UNLINTABLE)
    return {
        "files": len(per_file),
        "sql_lines": lines,
        "violations": style,
        "per_100_lines": round(100 * style / max(lines, 1), 2),
        "unlintable": sum(codes[c] for c in UNLINTABLE),
        "top_rules": codes.most_common(8),
        "worst_files": sorted(per_file.items(), key=lambda kv: -kv[1])[:8],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="sqlfluff JSON report")
    parser.add_argument("--budget", type=float, default=BUDGET_PER_100_LINES)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    result = figure(report, args.root.resolve())
    print(json.dumps(result, indent=1))
    if not result["files"]:
        print("sql lint: sqlfluff linted no files", file=sys.stderr)
        return 1
    if result["unlintable"]:
        print(f"sql lint: {result['unlintable']} templating/parse errors", file=sys.stderr)
        return 1
    if result["per_100_lines"] > args.budget:
        print(
            f"sql lint: {result['per_100_lines']} violations per 100 SQL lines, budget {args.budget}",
            file=sys.stderr,
        )
        return 1
    print(f"sql lint: {result['per_100_lines']} violations per 100 SQL lines (budget {args.budget})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long each pytest-xdist group of the suite took, from a JUnit report: the weights that order the
groups, longest first (tests/conftest.py, tests/group_seconds.json).

    .venv/bin/python -m pytest -q --junitxml=target/junit.xml -o junit_family=xunit1
    .venv/bin/python tools/test_group_seconds.py target/junit.xml > tests/group_seconds.json

A test's time in the report includes the fixtures it set up, so a group's figure counts the worlds
it builds. Every group is listed, 0 for one under half a second: a group missing from the file (a
new module) is scheduled first.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import xml.etree.ElementTree as ET


def group_seconds(junit_xml: str) -> dict[str, int]:
    """{group: whole seconds}, longest first. conftest.py writes the group into each test's id after an "@"
    (the report may show it inside a parametrized test's brackets)."""
    seconds: collections.Counter[str] = collections.Counter()
    for case in ET.parse(junit_xml).iter("testcase"):
        name = case.get("name", "")
        if "@" in name:
            seconds[name.rsplit("@", 1)[1].rstrip("]")] += float(case.get("time") or 0)
    return {group: round(s) for group, s in seconds.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("junit_xml")
    args = parser.parse_args()
    json.dump(group_seconds(args.junit_xml), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""``hub mapping test DEPARTMENT FIXTURES_DIR``: try a department mapping offline.

Each ``<name>.case.json`` in FIXTURES_DIR (a unified case) is minimised to the fields the
mapping reads and mapped; the record is compared with ``<name>.expected.json``. A mismatch
prints a unified diff; an unmappable case prints why. Exit 1 on any failure (or no fixtures).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

from hub.config import mapping
from hub.config.loading import load_config
from hub.domain.errors import PermanentError
from hub.domain.models import Case


def register(sub: Any) -> None:
    parser = sub.add_parser("mapping", help="test department mappings against sample cases")
    msub = parser.add_subparsers(dest="mapping_command", metavar="ACTION", required=True)
    test = msub.add_parser("test", help="map sample cases and compare with expected payloads")
    test.add_argument("department")
    test.add_argument("fixtures_dir", type=Path)
    test.add_argument("--config", type=Path, default=Path("config"), help="configuration folder")
    test.set_defaults(func=run)


def _dump(doc: Any) -> list[str]:
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).splitlines(keepends=True)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    dept = config.departments.get(args.department)
    if dept is None:
        from hub.config.files import did_you_mean

        print(f"unknown department {args.department!r}"
              f"{did_you_mean(args.department, config.departments)}", file=sys.stderr)
        return 1
    cases = sorted(Path(args.fixtures_dir).glob("*.case.json"))
    if not cases:
        print(f"no *.case.json in {args.fixtures_dir}", file=sys.stderr)
        return 1
    failed = 0
    paths = mapping.source_paths(dept.mapping)
    for path in cases:
        name = path.name.removesuffix(".case.json")
        expected_path = path.with_name(f"{name}.expected.json")
        try:
            case = Case.model_validate_json(path.read_bytes()).model_dump(mode="json")
            got = mapping.apply(dept.mapping, mapping.minimise(case, paths), config.code_tables)
            expected = json.loads(expected_path.read_text(encoding="utf-8"))
        except (PermanentError, ValueError, OSError) as exc:
            print(f"FAIL {name}: {exc}")
            failed += 1
            continue
        if got == expected:
            print(f"ok   {name}")
            continue
        failed += 1
        print(f"FAIL {name}: mapped record differs from {expected_path.name}")
        sys.stdout.writelines(difflib.unified_diff(_dump(expected), _dump(got),
                                                   fromfile=expected_path.name,
                                                   tofile=f"{name} (mapped)"))
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0

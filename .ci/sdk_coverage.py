#!/usr/bin/env python3
"""Regenerates docs/sdk-coverage.md from docs/sdk-calls.tsv and devreg's route table.

docs/sdk-calls.tsv lists every HTTP call the five official SDKs make from the device side
(sdk, method, path, source, kind, test). Whether devreg serves a call is not written there:
it is read from the OpenAPI document `devreg openapi` prints, whose paths are generated
from the route table (src/routes/mod.rs), so a route another branch adds shows up here by
rerunning this script. A call is served when the document has an operation with its method
whose path matches it segment by segment: a literal matches the same literal, a `{name}`
the SDK fills in matches a `{param}` of the route, and an SDK literal (`latest`) matches a
route's `{param}` only where no route has that literal there (shown as "via").

Every named test must exist (`fn NAME(` in a .rs file, `def NAME(` in a .py file); a test
named for a call devreg does not serve is an error too.

    python3 .ci/sdk_coverage.py          # write docs/sdk-coverage.md
    python3 .ci/sdk_coverage.py --check  # fail if the committed page differs

The binary is $DEVREG_BIN if set, else target/debug/devreg (built if missing).
"""

import argparse
import json
import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS = ROOT / "docs" / "sdk-calls.tsv"
PAGE = ROOT / "docs" / "sdk-coverage.md"
SDKS = ["python", "ios", "node", "browser", "android"]
KINDS = {"device", "hosted", "secagg"}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}


def fail(message):
    print(f"sdk_coverage: {message}", file=sys.stderr)
    sys.exit(1)


def document():
    binary = os.environ.get("DEVREG_BIN") or str(ROOT / "target" / "debug" / "devreg")
    if not Path(binary).exists():
        subprocess.run(["cargo", "build", "--bin", "devreg"], cwd=ROOT, check=True)
    out = subprocess.run([binary, "openapi"], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def routes(doc):
    """(method, path segments, path) of every documented operation."""
    found = []
    for path, item in doc["paths"].items():
        for method in item:
            if method.upper() in METHODS:
                found.append((method.upper(), path.strip("/").split("/"), path))
    return found


def is_param(segment):
    return segment.startswith("{") and segment.endswith("}")


def match(method, path, table):
    """The route serving `method path`, and whether an SDK literal met a route parameter."""
    wanted = path.split("?")[0].strip("/").split("/")
    candidates = []
    for m, segments, route in table:
        if m != method or len(segments) != len(wanted):
            continue
        loose = 0
        for i, (ours, theirs) in enumerate(zip(segments, wanted)):
            if is_param(theirs):
                if not is_param(ours):
                    break
            elif is_param(ours):
                # A literal the SDK sends meets a parameter: only if no route of this
                # method has that literal at this position (else that route is meant).
                if any(
                    mm == method and len(s) == len(wanted) and s[i] == theirs
                    for mm, s, _ in table
                ):
                    break
                loose += 1
            elif ours != theirs:
                break
        else:
            candidates.append((loose, route))
    if not candidates:
        return None, False
    loose, route = min(candidates)
    return route, loose > 0


def test_exists(test):
    file, _, name = test.partition("::")
    path = ROOT / file
    if not name or not path.is_file():
        return False
    text = path.read_text(encoding="utf-8")
    pattern = r"\bfn " if file.endswith(".rs") else r"\bdef "
    return re.search(pattern + re.escape(name) + r"\(", text) is not None


def read_calls():
    calls = []
    seen = set()
    for number, line in enumerate(CALLS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 6:
            fail(f"{CALLS.name}:{number}: 6 tab-separated columns, got {len(cells)}")
        sdk, method, path, source, kind, test = cells
        if sdk not in SDKS or method not in METHODS or kind not in KINDS:
            fail(f"{CALLS.name}:{number}: unknown sdk, method or kind: {cells[:2] + [kind]}")
        if not path.startswith("/"):
            fail(f"{CALLS.name}:{number}: the path starts with /")
        key = (sdk, method, re.sub(r"\{[^}]*\}", "{}", path))
        if key in seen:
            fail(f"{CALLS.name}:{number}: {sdk} {method} {path} is listed twice")
        seen.add(key)
        calls.append(dict(sdk=sdk, method=method, path=path, source=source, kind=kind,
                          test=None if test == "-" else test, line=number))
    return calls


def percent(part, whole):
    return f"{100 * part / whole:.0f}%" if whole else "-"


def render(calls):
    device = [c for c in calls if c["kind"] == "device"]
    served = [c for c in device if c["route"]]
    tested = [c for c in served if c["test"]]
    out = [
        "# SDK coverage: every device-side call of the official SDKs",
        "",
        "<!-- Generated by .ci/sdk_coverage.py from docs/sdk-calls.tsv and `devreg openapi`;",
        "     edit the TSV and rerun the script. CI fails when this page is stale. -->",
        "",
        "Each HTTP call the five official SDKs make from a device (Python `octomil==4.17.42`,",
        "iOS `octomil-ios@bd482a5`, Node `octomil-node@509709d`, browser",
        "`octomil-browser@8be93b4`, and Android, whose only public source is its DTO file",
        "`ai/octomil/api/dto`), where the SDK builds it, whether devreg serves it (the route of",
        "devreg's route table that answers it), and the test that drives it: the Python SDK",
        "itself in `tests/sdk`, or a replay in `tests/api` that sends what the source sends",
        "and checks what it reads. Hosted inference and secure aggregation are not in devreg's",
        "scope and are counted apart.",
        "",
        f"**Device-side calls: {len(served)} of {len(device)} served "
        f"({percent(len(served), len(device))}); {len(tested)} served and tested "
        f"({percent(len(tested), len(device))}).**",
        "",
        "| SDK | device-side calls | served | served and tested |",
        "|---|---|---|---|",
    ]
    for sdk in SDKS:
        mine = [c for c in device if c["sdk"] == sdk]
        s = [c for c in mine if c["route"]]
        t = [c for c in s if c["test"]]
        out.append(f"| {sdk} | {len(mine)} | {len(s)} ({percent(len(s), len(mine))}) | "
                   f"{len(t)} ({percent(len(t), len(mine))}) |")
    for kind, title in [("hosted", "hosted inference"), ("secagg", "secure aggregation")]:
        mine = [c for c in calls if c["kind"] == kind]
        s = [c for c in mine if c["route"]]
        out.append(f"| *{title}* (excluded) | {len(mine)} | {len(s)} | |")
    for sdk in SDKS:
        out += ["", f"## {sdk}", "", "| call | source | served by | test |", "|---|---|---|---|"]
        for c in [c for c in calls if c["sdk"] == sdk]:
            call = f"`{c['method']} {c['path']}`"
            if c["kind"] != "device":
                call += f" ({'hosted inference' if c['kind'] == 'hosted' else 'secure aggregation'})"
            if c["route"]:
                served_by = f"`{c['route']}`" + (" (via a parameter)" if c["loose"] else "")
            else:
                served_by = "**not served**"
            test = f"`{c['test']}`" if c["test"] else "-"
            out.append(f"| {call} | `{c['source']}` | {served_by} | {test} |")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is stale")
    args = parser.parse_args()
    table = routes(document())
    calls = read_calls()
    problems = []
    for c in calls:
        c["route"], c["loose"] = match(c["method"], c["path"], table)
        if c["test"] and not test_exists(c["test"]):
            problems.append(f"{CALLS.name}:{c['line']}: no test {c['test']}")
        if c["test"] and not c["route"]:
            problems.append(f"{CALLS.name}:{c['line']}: {c['method']} {c['path']} names a "
                            "test but devreg does not serve it")
    if problems:
        fail("\n".join(problems))
    page = render(calls)
    if args.check:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != page:
            fail(f"{PAGE.relative_to(ROOT)} is stale: run python3 .ci/sdk_coverage.py and "
                 "commit the page")
        print(f"sdk_coverage: {PAGE.relative_to(ROOT)} is current")
        return
    PAGE.write_text(page, encoding="utf-8")
    print(f"sdk_coverage: wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

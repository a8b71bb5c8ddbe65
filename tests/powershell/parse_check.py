#!/usr/bin/env python3
"""Parses every .ps1/.psm1/.psd1 of the repository with the tree-sitter PowerShell grammar.

PowerShell itself cannot be installed on the test machines, so this is what catches a syntax error
in the module before a user does. Any ERROR or MISSING node fails with file:line:col. A self-test
first proves that a broken snippet is detected, so the check cannot pass by parsing nothing.
Prints TAP lines ("ok N - ...", "not ok N - ...").
"""
import pathlib
import sys

import tree_sitter
import tree_sitter_powershell

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIP_DIRS = {"target", "node_modules", ".git"}
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def problems(source: bytes):
    """(line, column, kind) of every ERROR or MISSING node, 1-based."""
    found = []
    stack = [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, col = node.start_point
            found.append((row + 1, col + 1, "missing " + node.type if node.is_missing else "syntax error"))
            continue
        if node.has_error:
            stack.extend(node.children)
    return sorted(found)


def function_names(source: bytes):
    """Names of the top-level functions a script defines."""
    names = []
    for node in PARSER.parse(source).root_node.children:
        stack = [node]
        while stack:
            n = stack.pop()
            if n.type == "function_statement":
                name = next((c for c in n.children if c.type == "function_name"), None)
                if name is not None:
                    names.append(name.text.decode())
                continue
            stack.extend(n.children)
    return names


def manifest_exports(text: str):
    """The FunctionsToExport list of a module manifest."""
    import re
    block = re.search(r"FunctionsToExport\s*=\s*@\((.*?)\)", text, re.S)
    return re.findall(r"'([^']+)'", block.group(1)) if block else []


def main() -> int:
    count = 0
    failed = 0

    def report(ok: bool, what: str):
        nonlocal count, failed
        count += 1
        failed += 0 if ok else 1
        print(("ok" if ok else "not ok"), count, "-", what)

    good = b"function Test-It {\n  param([string]$Name)\n  \"Hello $Name\"\n}\n"
    broken = b"function Test-It {\n  param([string]$Name\n  if ($Name -eq 'x') { 'y'\n"
    report(not problems(good), "self-test: a well-formed script parses clean")
    report(bool(problems(broken)), "self-test: a broken script is detected")

    files = sorted(
        p for p in ROOT.rglob("*")
        if p.suffix.lower() in {".ps1", ".psm1", ".psd1"} and not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)
    )
    for path in files:
        rel = path.relative_to(ROOT)
        found = problems(path.read_bytes())
        for line, col, kind in found[:5]:
            print(f"# {rel}:{line}:{col}: {kind}")
        report(not found, f"{rel} parses")
    module = ROOT / "powershell" / "TenantAttach"
    defined = {}
    for path in sorted((module / "Public").glob("*.ps1")):
        defined[path.stem] = function_names(path.read_bytes())
    exported = manifest_exports((module / "TenantAttach.psd1").read_text(encoding="utf-8-sig"))
    for name, functions in defined.items():
        report(functions == [name], f"Public/{name}.ps1 defines exactly the function {name} (found {functions})")
    report(sorted(exported) == sorted(defined), f"the manifest exports exactly the public functions ({len(exported)} exported, {len(defined)} defined)")
    print(f"# {count} checks, {len(files)} PowerShell files, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

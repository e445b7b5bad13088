"""The error-code registry (docs/errors.md) and the source agree, and codes are constants, not literals.

Scanned: every ``.py`` and ``.sql`` file of ``kgsite``, ``graph`` and ``config_admin``, migrations included (codes
raised by triggers live in SQL strings there).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
ROOTS = ("kgsite", "graph", "config_admin")
CODE_RE = re.compile(r"\bRG-[A-Z]+-\d{3}\b")
REGISTRY = BASE_DIR / "docs" / "errors.md"


def source_files(suffixes=(".py", ".sql")) -> list[Path]:
    return sorted(path for root in ROOTS for path in (BASE_DIR / root).rglob("*")
                  if path.suffix in suffixes and "__pycache__" not in path.parts)


def codes_in_source() -> dict[str, set[str]]:
    found = defaultdict(set)
    for path in source_files():
        for code in CODE_RE.findall(path.read_text(encoding="utf-8")):
            found[code].add(str(path.relative_to(BASE_DIR)))
    return found


def documented_codes() -> set[str]:
    return set(CODE_RE.findall(REGISTRY.read_text(encoding="utf-8")))


def test_every_code_in_the_source_is_in_the_registry():
    missing = {code: sorted(files) for code, files in codes_in_source().items() if code not in documented_codes()}
    assert not missing, f"codes missing from docs/errors.md: {missing}"


def test_every_code_in_the_registry_is_used():
    assert documented_codes() - set(codes_in_source()) == set()


def test_no_two_constants_share_a_code():
    constants = defaultdict(list)
    for path in source_files((".py",)):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str) and CODE_RE.fullmatch(node.value.value)):
                for target in node.targets:
                    constants[node.value.value].append(f"{path.relative_to(BASE_DIR)}:{ast.unparse(target)}")
    shared = {code: where for code, where in constants.items() if len(where) > 1}
    assert not shared, f"one code, several constants: {shared}"


def _starts_with_code(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return CODE_RE.match(node.value) is not None
    if isinstance(node, ast.JoinedStr) and node.values:
        return _starts_with_code(node.values[0])
    return False


def literal_codes_at_raise_sites(source: str) -> list[str]:
    """Calls that spell a code: ``code="RG-..."`` anywhere, or an error class built with ``"RG-..."`` first."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        literal_keyword = any(keyword.arg == "code" and _starts_with_code(keyword.value) for keyword in node.keywords)
        literal_first = bool(node.args) and name[:1].isupper() and _starts_with_code(node.args[0])
        if literal_keyword or literal_first:
            found.append(f"line {node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_the_literal_check_catches_the_three_spellings():
    assert len(literal_codes_at_raise_sites(
        'raise ConfigError("no such parameter", code="RG-CFG-001")\n'
        'raise AdoptionError("RG-ADOPT-001", "already managed")\n'
        'raise errors.DomainError(f"RG-CMD-002: bad {value}")\n'
        'raise ConfigError("no such parameter", code=UNKNOWN_PARAMETER)\n'  # the right way: not reported
        'cursor.execute("RAISE EXCEPTION \'RG-CFG-008: ...\'")\n'  # SQL: not a Python raise site
    )) == 3


def test_python_raise_sites_use_code_constants():
    offenders = {}
    for path in source_files((".py",)):
        found = literal_codes_at_raise_sites(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(path.relative_to(BASE_DIR))] = found
    assert not offenders, f"codes spelled as literals (use the module's constant): {offenders}"

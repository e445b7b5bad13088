"""Every management command of the project, given bad input on the command line, exits non-zero with an ``RG-``
code, prints no traceback and writes nothing.

The commands run in-process through ``ManagementUtility`` (what ``manage.py`` does, so ``_called_from_command_line``
is true and the exit code is the real one). ``CASES`` lists the bad inputs per command name; a command added to
the project without cases here fails ``test_every_command_is_swept``.
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import ManagementUtility
from django.db import connection, connections

pytestmark = pytest.mark.django_db

ARGPARSE = "RG-CMD-001"  # arguments that do not parse: exit status 2
BAD_VALUE = "RG-CMD-002"  # kgsite.errors.BAD_OPTION_VALUE
HUGE = "9" * 30
ARABIC_THREE = "\u0663"  # ٣: int() takes it, PostgreSQL and the services must not
NUL = "\x00"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: str  # the RG code expected on stderr
    stdin: str | None = None  # what the command reads from standard input, if anything

    @property
    def status(self) -> int:
        return 2 if self.code == ARGPARSE else 1


def case(*args, code, stdin=None) -> Case:
    return Case(tuple(args), code, stdin)


CASES: dict[str, list[Case]] = {
    # Only arguments refused before it migrates or serves.
    "quickstart": [
        case("--bind", "nonsense", code=BAD_VALUE),
        case("--bind", "127.0.0.1:99999", code=BAD_VALUE),
        case("--bind", f"127.0.0.1:{ARABIC_THREE}", code=BAD_VALUE),
        case("--bind", f"127.0.0.1:8000{NUL}", code=BAD_VALUE),
        case("--workers", "0", code=BAD_VALUE),
        case("--workers", "x", code=BAD_VALUE),
        case("--workers", ARABIC_THREE, code=BAD_VALUE),
        case("--workers", HUGE, code=BAD_VALUE),
        case("--workers", "-1", code=BAD_VALUE),
        case("--bogus", code=ARGPARSE),
        case("--no-serve", "extra", code=ARGPARSE),
    ],
    "adopt_database": [
        case(code="RG-ADOPT-001"),  # the test database is already managed by kgsite
        case("--database", "nope", code=BAD_VALUE),
        case("--database", f"default{NUL}", code=BAD_VALUE),
        case("--bogus", code=ARGPARSE),
    ],
    # Never a valid action: "stop" would stop the server the tests run on.
    "embedded_pg": [
        case(code=ARGPARSE),
        case("bogus", code=ARGPARSE),
        case(f"status{NUL}", code=ARGPARSE),
        case("status", "--bogus", code=ARGPARSE),
    ],
    "config": [
        case(code=ARGPARSE),
        case("nonsense", code=ARGPARSE),
        case("list", "--bogus", code=ARGPARSE),
        case("list", "--category", "nope", code="RG-CFG-001"),
        case("list", "--category", f"performance{NUL}", code="RG-CFG-001"),
        case("get", code=ARGPARSE),
        case("get", "nope", code="RG-CFG-001"),
        case("get", f"work_mem{NUL}", code="RG-CFG-001"),
        case("set", "work_mem", code=ARGPARSE),
        case("set", "work_mem", "8MB", "--bogus", code=ARGPARSE),
        case("set", "nope", "1", code="RG-CFG-001"),
        case("set", f"work{NUL}mem", "8MB", code="RG-CFG-001"),
        case("set", "work_mem", "banana", code="RG-CFG-005"),
        case("set", "work_mem", "", code="RG-CFG-004"),
        case("set", "work_mem", "3GB", code="RG-CFG-003"),
        case("set", "work_mem", f"8MB{NUL}", code="RG-CFG-005"),
        case("set", "work_mem", f"{ARABIC_THREE}MB", code="RG-CFG-005"),
        case("set", "work_mem", HUGE + "TB", code="RG-CFG-005"),
        case("set", "parallel_workers", "99", code="RG-CFG-003"),
        case("set", "parallel_workers", "abc", code="RG-CFG-002"),
        case("set", "parallel_workers", ARABIC_THREE, code="RG-CFG-002"),
        case("set", "parallel_workers", HUGE, code="RG-CFG-002"),
        case("set", "parallel_workers", f"3{NUL}", code="RG-CFG-002"),
        case("set", "random_page_cost", "1e999", code="RG-CFG-006"),
        case("set", "random_page_cost", HUGE * 20, code="RG-CFG-006"),
        case("set", "random_page_cost", "NaN", code="RG-CFG-006"),
        case("reset", code=ARGPARSE),
        case("reset", "nope", code="RG-CFG-001"),
        case("reset", f"work_mem{NUL}", code="RG-CFG-001"),
        case("export", code=ARGPARSE),
        case("export", "{tmp}/missing-dir/config.json", code="RG-CFG-007"),
        case("export", f"{{tmp}}/config{NUL}.json", code="RG-CFG-007"),
        case("import", code=ARGPARSE),
        case("import", "{tmp}/missing.json", code="RG-CFG-007"),
        case("import", f"{{tmp}}/bad{NUL}.json", code="RG-CFG-007"),
        case("import", "{tmp}/not-json.json", code="RG-CFG-007"),
        case("import", "{tmp}/not-utf8.json", code="RG-CFG-007"),
        case("import", "{tmp}/not-kgsite.json", code="RG-CFG-007"),
        case("import", "{tmp}/one-bad-value.json", code="RG-CFG-003"),
        case("import", "{tmp}/unknown-name.json", code="RG-CFG-001"),
        case("import", "{tmp}/nul-name.json", code="RG-CFG-007"),
        case("import", "-", code="RG-CFG-007", stdin="{not json"),
        case("apply-postgres", "nope", code="RG-CFG-001"),
        case("apply-postgres", "inference_batch_size", code="RG-CFG-001"),
        case("apply-postgres", "work_mem", f"work_mem{NUL}", code="RG-CFG-001"),
        case("apply-postgres", "--bogus", code=ARGPARSE),
    ],
    "generate_graph": [
        case(code=ARGPARSE),  # --nodes is required
        case("--nodes", "3", code="RG-GEN-001"),
        case("--nodes", "0", code=ARGPARSE),
        case("--nodes", "-" + HUGE, code=ARGPARSE),
        case("--nodes", HUGE, code=ARGPARSE),  # above MAX_NODES: refused before any planning
        case("--nodes", "abc", code=ARGPARSE),
        case("--nodes", ARABIC_THREE, code=ARGPARSE),  # ASCII digits only
        case("--nodes", f"100{NUL}", code=ARGPARSE),
        case("--nodes", "100", "--seed", "-1", code=ARGPARSE),
        case("--nodes", "100", "--seed", "x", code=ARGPARSE),
        case("--nodes", "100", "--bogus", code=ARGPARSE),
    ],
    "move_node": [
        case(code=ARGPARSE),
        case("1", code=ARGPARSE),  # --parent or --root is required
        case("1", "--root", "--parent", "2", code=ARGPARSE),
        case("abc", "--root", code=BAD_VALUE),
        case(ARABIC_THREE, "--root", code=BAD_VALUE),
        case(HUGE, "--root", code=BAD_VALUE),
        case(f"1{NUL}", "--root", code=BAD_VALUE),
        case("999999", "--root", code="RG-NODE-008"),
        case("999999", "--parent", "abc", code=BAD_VALUE),
    ],
    "refresh_views": [
        case("--only", code=ARGPARSE),
        case("--only", "mv_nope", code="RG-VIEW-001"),
        case("--only", "mv_node_confidence_cache", "mv_nope", code="RG-VIEW-001"),
        case("--only", f"mv{NUL}", code="RG-VIEW-001"),
        case("--due", "extra", code=ARGPARSE),
        case("--bogus", code=ARGPARSE),
    ],
    "queue_inference": [
        case(code=ARGPARSE),  # which nodes is required
        case("--all", "--node", "1", code=ARGPARSE),
        case("--node", code=ARGPARSE),
        case("--node", "x", code=ARGPARSE),
        case("--node", ARABIC_THREE, code=ARGPARSE),
        case("--node", HUGE, code=ARGPARSE),
        case("--node", "999999", code="RG-INFER-002"),
        case("--type", "no-such-type", code="RG-INFER-002"),
        case("--type", f"a{NUL}b", code="RG-INFER-002"),
        case("--all", "--priority", "0", code=ARGPARSE),
        case("--all", "--priority", "11", code=ARGPARSE),
    ],
    "run_inference": [
        case("--once", "--loop", code=ARGPARSE),
        case("--batch-size", "0", code=ARGPARSE),
        case("--batch-size", HUGE, code=ARGPARSE),
        case("--batch-size", ARABIC_THREE, code=ARGPARSE),
        case("--batch-size", "1e3", code=ARGPARSE),
        case("extra", code=ARGPARSE),
    ],
    "run_worker": [
        case("--batch-size", "0", code=ARGPARSE),
        case("--batch-size", "-5", code=ARGPARSE),
        case("--once", code=ARGPARSE),
    ],
    "crawl_resources": [
        case("--limit", "0", code=ARGPARSE), case("--limit", "100001", code=ARGPARSE),
        case("--limit", HUGE, code=ARGPARSE), case("--limit", ARABIC_THREE, code=ARGPARSE),
        case("--limit", "1e3", code=ARGPARSE), case("--stale-only", "extra", code=ARGPARSE),
        case("--bogus", code=ARGPARSE),
    ],
    "export_graph": [
        case(code=ARGPARSE),  # PATH is required
        case("{tmp}/g.jsonl", "--format", "xml", code=ARGPARSE),
        case("{tmp}/g.jsonl", "--embeddings", "some", code=ARGPARSE),
        case("{tmp}/g.jsonl", "--subtree", "bad..path", code="RG-EXPORT-001"),
        case("{tmp}/g.jsonl", "--subtree", "nowhere", code="RG-EXPORT-001"),
        case("{tmp}/g.jsonl", "--subtree", f"a{NUL}", code="RG-EXPORT-001"),
        case("{tmp}/missing-dir/g.jsonl", code="RG-EXPORT-001"),
        case("-", "--format", "csv", code="RG-EXPORT-001"),
    ],
    "import_graph": [
        case(code=ARGPARSE),  # PATH is required
        case("{tmp}/missing-dir/graph.jsonl", code="RG-IMPORT-002"),
        case("{tmp}/not-json.json", "--on-conflict", "merge", code=ARGPARSE),
        case("{tmp}/not-json.json", "--format", "xml", code=ARGPARSE),
        case("{tmp}/not-json.json", "--defer-indexes", "sometimes", code=ARGPARSE),
        case("{tmp}/not-json.json", "--format", "csv", code="RG-IMPORT-002"),  # a CSV file named after no kind
        case("{tmp}/not-json.json", "--errors-file", "{tmp}/missing-dir/errors.txt", code="RG-CMD-002"),
        case(f"{{tmp}}/graph{NUL}.jsonl", code="RG-IMPORT-002"),
    ],
    "cleanup_relationships": [
        case("--dry-run", "extra", code=ARGPARSE),
        case("--bogus", code=ARGPARSE),
    ],
    "find_duplicates": [
        case("--min-score", "2", code=ARGPARSE), case("--min-score", "nan", code=ARGPARSE),
        case("--neighbours", "0", code=ARGPARSE), case("--neighbours", "١٠", code=ARGPARSE),
        case("--top", "-1", code=ARGPARSE), case("--subtree", "bad path!", code="RG-DUP-001"),
        case("--subtree", f"a{NUL}b", code="RG-DUP-001"), case("--type", "x" * 51, code="RG-DUP-001"),
        case("--bogus", code=ARGPARSE),
    ],
    "prune_history": [
        case("--older-than-days", "-1", code=ARGPARSE), case("--older-than-days", "36501", code=ARGPARSE),
        case("--older-than-days", "²", code=ARGPARSE), case("--dry-run", "extra", code=ARGPARSE),
    ],
    "optimize_vector_index": [
        case("--table", "relationships", code=ARGPARSE), case("--table", f"nodes{NUL}", code=ARGPARSE),
        case("--type", "btree", code=ARGPARSE), case("--table", code=ARGPARSE),
        case("--dry-run", "extra", code=ARGPARSE), case("--bogus", code=ARGPARSE),
    ],
    "embed_nodes": [
        case("--batch-size", "0", code=ARGPARSE),
        case("--batch-size", "10001", code=ARGPARSE),  # above embedding_batch_size's maximum
        case("--batch-size", HUGE, code=ARGPARSE),
        case("--batch-size", ARABIC_THREE, code=ARGPARSE),
        case("--batch-size", "1e3", code=ARGPARSE),
        case("--batch-size", f"10{NUL}", code=ARGPARSE),
        case("--missing-only", "--all", code=ARGPARSE),  # contradictory
        case("--resources", "extra", code=ARGPARSE),
        case("--bogus", code=ARGPARSE),
    ],
    "recalculate_confidence": [
        case("--batch-size", "0", code=ARGPARSE),
        case("--batch-size", "99", code=ARGPARSE),  # below the smallest batch
        case("--batch-size", HUGE, code=ARGPARSE),
        case("--batch-size", ARABIC_THREE, code=ARGPARSE),
        case("--batch-size", "1e4", code=ARGPARSE),
        case("--stale-only", "extra", code=ARGPARSE),
        case("--all", code=ARGPARSE),
    ],
}

# Files the import cases read ({tmp} in an argument is the test's temporary directory).
FILES = {
    "not-json.json": b"{not json",
    "not-utf8.json": b'{"format": "kgsite-config", "\xff\xfe": 1}',
    "not-kgsite.json": b'{"format": "something-else", "version": 1, "parameters": []}',
    "one-bad-value.json": (b'{"format": "kgsite-config", "version": 1, "parameters": ['
                           b'{"name": "parallel_workers", "value": "6"}, {"name": "shared_buffers", "value": "9TB"}]}'),
    "unknown-name.json": (b'{"format": "kgsite-config", "version": 1, "parameters": ['
                          b'{"name": "parallel_workers", "value": "6"}, {"name": "nope", "value": "1"}]}'),
    "nul-name.json": (b'{"format": "kgsite-config", "version": 1, "parameters": ['
                      b'{"name": "parallel_workers", "value": "6"}, {"name": "work\\u0000mem", "value": "8MB"}]}'),
}

STATE_SQL = """
SELECT (SELECT string_agg(parameter_name || '=' || parameter_value, ',' ORDER BY parameter_name)
          FROM system_config),
       (SELECT count(*) FROM config_audit_log), (SELECT version FROM config_version WHERE id = 1),
       (SELECT count(*) FROM nodes), (SELECT count(*) FROM node_attributes), (SELECT count(*) FROM relationships),
       (SELECT count(*) FROM external_resources), (SELECT count(*) FROM users),
       (SELECT count(*) FROM django_migrations)
"""


def database_state():
    with connection.cursor() as cursor:
        cursor.execute(STATE_SQL)
        return cursor.fetchone()


def project_commands() -> set[str]:
    """Commands defined in the project's own apps (``<app>/management/commands/<name>.py``)."""
    base = Path(settings.BASE_DIR)
    return {path.stem for path in base.glob("*/management/commands/*.py") if not path.name.startswith("_")}


def test_every_command_is_swept():
    discovered = project_commands()
    assert {"quickstart", "adopt_database", "embedded_pg", "config", "generate_graph"} <= discovered
    assert discovered == set(CASES), (
        f"commands without cases here: {sorted(discovered - set(CASES))}; "
        f"cases for commands that do not exist: {sorted(set(CASES) - discovered)}"
    )


@pytest.mark.parametrize(
    ("name", "bad"),
    [(name, bad) for name, cases in CASES.items() for bad in cases],
    ids=[f"{name} {' '.join(bad.args)!r}" for name, cases in CASES.items() for bad in cases],
)
def test_bad_input_exits_non_zero_with_a_code_and_no_traceback(name, bad, capsys, monkeypatch, tmp_path):
    for file_name, content in FILES.items():
        (tmp_path / file_name).write_bytes(content)
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in bad.args]
    if bad.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(bad.stdin))
    # run_from_argv closes every connection when the command ends; that would end the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    before = database_state()

    with pytest.raises(SystemExit) as excinfo:
        ManagementUtility(["manage.py", name, *args]).execute()

    out, err = capsys.readouterr()
    assert excinfo.value.code == bad.status, (out, err)
    codes = re.findall(r"\bRG-[A-Z]+-\d{3}\b", err)
    assert codes and codes[-1] == bad.code, err
    assert "Traceback" not in out + err
    if bad.code != ARGPARSE:  # argparse prints a usage line first; a domain error is one line
        assert err.strip().startswith(f"{bad.code}: ") and "\n" not in err.strip(), err
    assert database_state() == before
    assert not (tmp_path / "missing-dir").exists()


def test_a_command_on_an_unmigrated_database_says_so(capsys):
    """config, generate_graph, move_node, recalculate_confidence and refresh_views refuse with RG-DB-001 instead
    of a missing-table traceback."""
    from tests.scratch import manage, scratch_database

    with scratch_database() as db:
        for args in (["config", "list"], ["generate_graph", "--nodes", "10"], ["move_node", "1", "--root"],
                     ["recalculate_confidence"], ["refresh_views"], ["queue_inference", "--all"],
                     ["run_inference"], ["run_worker"], ["cleanup_relationships"], ["embed_nodes"],
                     ["optimize_vector_index"], ["find_duplicates"], ["prune_history"]):
            result = manage(db, *args, check=False)
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert result.stderr.startswith("RG-DB-001: the database is not ready"), result.stderr
            assert "Traceback" not in result.stderr

"""``manage.py config list|get|set|reset|export|import|apply-postgres``: the configuration from the command line.

Exit code 0 on success; on bad input one line ``RG-CFG-...: message`` on stderr and exit code 1, nothing written
(``kgsite.management.base.DomainCommand``); arguments that do not parse give ``RG-CMD-001`` and exit code 2.
The command is a trusted system caller: the services check no Django permission for it.
"""

from __future__ import annotations

import json
import sys

from config_admin import selectors, services
from config_admin.values import BAD_IMPORT_FILE, MAX_IMPORT_FILE_BYTES, UNKNOWN_PARAMETER, ConfigError
from kgsite.management.base import DomainCommand

ACTIONS = ("list", "get", "set", "reset", "export", "import", "apply-postgres")


class Command(DomainCommand):
    requires_migrated_database = True
    help = "Read and change system configuration (typed, validated, audited)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{" + ",".join(ACTIONS) + "}")
        listing = sub.add_parser("list", help="Parameters with value, default and range.")
        listing.add_argument("--category", help="Only this category.")
        get = sub.add_parser("get", help="Print one parameter's value.")
        get.add_argument("name")
        set_ = sub.add_parser("set", help="Change one parameter.")
        set_.add_argument("name")
        set_.add_argument("value")
        set_.add_argument("--reason", help="Why (kept in the audit log).")
        reset = sub.add_parser("reset", help="Set one parameter back to its default.")
        reset.add_argument("name")
        reset.add_argument("--reason")
        export = sub.add_parser("export", help="Write all values as JSON (FILE, or - for standard output).")
        export.add_argument("file")
        import_ = sub.add_parser("import", help="Apply a JSON file made by export: all or nothing.")
        import_.add_argument("file")
        import_.add_argument("--reason")
        apply = sub.add_parser(
            "apply-postgres",
            help="ALTER SYSTEM the stored performance parameters (or only NAME ...) and reload PostgreSQL's "
                 "configuration; needs a database role allowed to run ALTER SYSTEM.",
        )
        apply.add_argument("names", nargs="*", metavar="NAME")

    def handle(self, *args, action, **options):
        getattr(self, "do_" + action.replace("-", "_"))(actor=services.actor_label(command=True), **options)

    def do_list(self, *, category=None, **_):
        groups = selectors.parameters_overview(category=category)
        if not groups:
            raise ConfigError(f"no parameters in category {category!r}", code=UNKNOWN_PARAMETER)
        for group in groups:
            self.stdout.write(f"[{group.category}]")
            for line in group.lines:
                marks = " ".join(mark for mark, on in (("changed", line.differs_from_default),
                                                        ("restart-required", line.restart_pending)) if on)
                self.stdout.write(
                    f"  {line.row.parameter_name:<34} {line.row.parameter_value:<10} {line.kind:<8} "
                    f"default {line.row.default_value:<8} range {line.range_text:<14} {marks}".rstrip()
                )

    def do_get(self, *, name, **_):
        self.stdout.write(str(_display(selectors.config_get(name))))

    def do_set(self, *, name, value, reason=None, actor, **_):
        row = services.config_set(name=name, value=value, actor=actor, reason=reason)
        self.stdout.write(f"{row.parameter_name} = {row.parameter_value}")

    def do_reset(self, *, name, reason=None, actor, **_):
        row = services.config_reset(name=name, actor=actor, reason=reason)
        self.stdout.write(f"{row.parameter_name} = {row.parameter_value}")

    def do_export(self, *, file, **_):
        data = services.config_export_data()
        text = json.dumps(data, indent=2) + "\n"
        if file == "-":
            self.stdout.write(text, ending="")
            return
        if "\x00" in file:
            raise ConfigError(f"cannot write {file!r}: a file name cannot contain a NUL character",
                              code=BAD_IMPORT_FILE)
        try:
            with open(file, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write {file}: {exc.strerror}", code=BAD_IMPORT_FILE) from exc
        self.stdout.write(f"exported {len(data['parameters'])} parameters to {file}")

    def do_import(self, *, file, reason=None, actor, **_):
        if file == "-":
            stream = getattr(sys.stdin, "buffer", sys.stdin)
            data = services.config_file_data(stream.read(MAX_IMPORT_FILE_BYTES + 1), "standard input")
            changed = services.config_import(data=data, actor=actor, reason=reason)
        else:
            changed = services.config_import_file(path=file, actor=actor, reason=reason)
        self.stdout.write(f"imported: {len(changed)} changed" + (f" ({', '.join(changed)})" if changed else ""))

    def do_apply_postgres(self, *, names, **_):
        for result in services.postgres_settings_apply(names=names or None):
            state = "pending restart" if result.pending_restart else "running"
            self.stdout.write(f"{result.name} = {result.value} ({state}; PostgreSQL runs with {result.running})")


def _display(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value

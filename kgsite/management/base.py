"""The base of every kgsite management command: one way to report bad input.

* A ``DomainError`` raised while the command runs is printed as one line, ``RG-...: message``, on stderr, and the
  command exits with status 1. No traceback: the error is the user's to act on, and says how.
* Arguments that do not parse (argparse) are reported with the code ``RG-CMD-001`` and exit status 2, argparse's
  convention, after the usage line.
* Called with ``call_command`` (tests, other code), both become ``CommandError`` carrying the same text, so the
  caller decides what to do.
* Any other exception is a bug: it propagates with its traceback.
* ``requires_migrated_database = True`` makes a command refuse (``RG-DB-001``) to run on a database whose
  migrations are not all applied, instead of failing on a missing table with a traceback.

``whole_number(minimum, maximum)`` is the argument type for counts and ids: ASCII digits only (argparse's ``int``
takes ``٣`` as 3) within a range, else ``RG-CMD-001``.
"""

from __future__ import annotations

import argparse
import sys

import pghistory
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from kgsite.errors import BAD_ARGUMENTS, DomainError

DATABASE_NOT_MIGRATED = "RG-DB-001"  # the command needs tables that `manage.py migrate` has not created yet


class DomainCommandParser(CommandParser):
    """Django's parser, with the ``RG-CMD-001`` code in front of every argument error (sub-commands included)."""

    def error(self, message):
        super().error(f"{BAD_ARGUMENTS}: {message}")


def _give_our_errors(parser: argparse.ArgumentParser) -> None:
    """BaseCommand builds a CommandParser itself, and add_arguments has already made any sub-parsers: give them
    all our ``error()``, however deep."""
    parser.__class__ = DomainCommandParser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_parser in action.choices.values():
                _give_our_errors(sub_parser)


def whole_number(minimum: int, maximum: int):
    """An argparse ``type``: a whole number in ASCII digits from ``minimum`` to ``maximum``."""

    def parse(text: str) -> int:
        digits = text[1:] if text.startswith("-") and minimum < 0 else text
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 20:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        value = int(text)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is out of range: from {minimum:,} to {maximum:,}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its messages
    return parse


class DatabaseNotMigrated(DomainError):
    code = DATABASE_NOT_MIGRATED


def _unapplied_migrations(alias: str) -> int:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


class DomainCommand(BaseCommand):
    requires_migrated_database = False
    # The history of graph edits (docs/history.md) records the command that made them. A long-running command
    # (run_worker) opens its own history context per unit of work instead of one for its whole life.
    history_context = True

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        _give_our_errors(parser)
        return parser

    def execute(self, *args, **options):
        try:
            if self.requires_migrated_database:
                unapplied = _unapplied_migrations(options.get("database") or DEFAULT_DB_ALIAS)
                if unapplied:
                    raise DatabaseNotMigrated(
                        f"the database is not ready: {unapplied} migration(s) not applied; run "
                        "`python manage.py migrate` (or `python manage.py quickstart`) first"
                    )
            if not self.history_context:
                return super().execute(*args, **options)
            with pghistory.context(command=self.__module__.rsplit(".", 1)[-1]):
                return super().execute(*args, **options)
        except DomainError as exc:
            if getattr(self, "_called_from_command_line", False) and not options.get("traceback"):
                self.stderr.write(str(exc))
                sys.exit(1)
            raise CommandError(str(exc)) from exc

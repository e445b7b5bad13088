"""The base of every kgsite management command: one way to report bad input.

* A ``DomainError`` raised while the command runs is printed as one line, ``RG-...: message``, on stderr, and the
  command exits with status 1. No traceback: the error is the user's to act on, and says how.
* Arguments that do not parse (argparse) are reported with the code ``RG-CMD-001`` and exit status 2, argparse's
  convention, after the usage line.
* Called with ``call_command`` (tests, other code), both become ``CommandError`` carrying the same text, so the
  caller decides what to do.
* Any other exception is a bug: it propagates with its traceback.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kgsite.errors import BAD_ARGUMENTS, DomainError


class DomainCommandParser(CommandParser):
    """Django's parser, with the ``RG-CMD-001`` code in front of every argument error (sub-commands included)."""

    def error(self, message):
        super().error(f"{BAD_ARGUMENTS}: {message}")


class DomainCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # BaseCommand builds a CommandParser itself; give it our error() (and to the sub-parsers it creates).
        parser.__class__ = DomainCommandParser
        return parser

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            if getattr(self, "_called_from_command_line", False) and not options.get("traceback"):
                self.stderr.write(str(exc))
                sys.exit(1)
            raise CommandError(str(exc)) from exc

#!/usr/bin/env python
"""Django's command-line utility for kgsite."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kgsite.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 (load the settings: a refusal is one line, not a traceback)
    except ImproperlyConfigured as refused:
        from kgsite.errors import SETTINGS_REFUSED

        sys.stderr.write(f"{SETTINGS_REFUSED}: {refused}\n")
        sys.exit(1)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

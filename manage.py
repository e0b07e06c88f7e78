#!/usr/bin/env python
"""Django's command-line utility for Feeding Hearts ML."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feeding_hearts.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Settings read the environment (feeding_hearts.config) and refuse a bad value with a
        # message naming the variable; that message is all the user needs, not a traceback.
        settings.INSTALLED_APPS  # noqa: B018 (loading the settings is the point)
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

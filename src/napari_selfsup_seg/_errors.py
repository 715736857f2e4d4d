"""Exceptions that carry a one-line message meant for the user."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: a missing or unreadable file, a wrong shape, a bad parameter.

    The message is one line that names the file (when there is one) and the problem. The command
    line prints it on stderr and exits with status 2; the widgets show it as a notification.
    """


class ModelError(InputError):
    """A model directory that cannot be used (missing files, other format, wrong shapes)."""

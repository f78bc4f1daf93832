"""Errors a user can act on: each message names the file and the fix."""


class InputError(ValueError):
    """Bad input (missing, empty, unreadable or truncated media; bad parameter). Nothing downstream runs."""

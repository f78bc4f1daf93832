"""Errors a user can act on: each message names the file (or setting) and the fix."""


class InputError(ValueError):
    """Bad input (missing, empty, unreadable or truncated media; bad parameter). Nothing downstream runs."""


class MissingModelError(RuntimeError):
    """A model file is absent or damaged; the message says how to install it."""


class StorageError(InputError):
    """The storage root cannot be reached or used (endpoint down, bucket missing, access denied)."""

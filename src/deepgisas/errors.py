"""The user-facing error type.

Anything a user can cause (a missing file, an unknown key, an impossible value, a geometry that
does not fit an image) raises :class:`UserError`. The CLI turns it into one line on stderr and
exit status 2; programming errors keep their traceback.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input, reported as one line: ``WHERE: WHAT``."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def located(self, where: str) -> UserError:
        """Return the same error, prefixed by a file name (keeps an existing location)."""
        if self.where is not None:
            return UserError(str(self).split(": ", 1)[1], f"{where}: {self.where}")
        return UserError(str(self), where)

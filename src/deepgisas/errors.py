"""The user-facing error type.

Anything a user can cause (a missing file, an unknown key, an impossible value, a geometry that
does not fit an image) raises :class:`UserError`. The CLI turns it into one line on stderr and
exit status 2; programming errors keep their traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class UserError(ValueError):
    """A problem with the user's input, reported as one line: ``WHERE: WHAT``.

    ``setting``: the configuration field the problem is about (``count``, ``alpha_i_deg``),
    named so in the message; the CLI shows its flag there instead (``--count``,
    :func:`deepgisas.cli.options.flag_of`)."""

    def __init__(self, message: str, where: str | None = None,
                 setting: str | None = None) -> None:
        self.where = where
        self.setting = setting
        super().__init__(f"{where}: {message}" if where else message)

    def located(self, where: str) -> UserError:
        """Return the same error, prefixed by a file name (keeps an existing location)."""
        if self.where is not None:
            return UserError(str(self).split(": ", 1)[1], f"{where}: {self.where}",
                             self.setting)
        return UserError(str(self), where, self.setting)

    def with_flag(self, flag: str) -> str:
        """The message with the setting's name replaced by ``flag``: its first mention as a
        word, in the location if it names the setting, else in the text after it."""
        text = str(self)
        if self.setting is None:
            return text
        word = re.compile(rf"(?<![\w-]){re.escape(self.setting)}(?![\w-])")
        prefix = f"{self.where}: " if self.where else ""
        if self.where == self.setting:
            return flag + text[len(self.where):]
        return prefix + word.sub(flag, text[len(prefix):], count=1)


def unknown_key(key: object, allowed: Iterable[str], what: str = "") -> str:
    """The message for a key that is not one of ``allowed``: "unknown key 'materal' (did you
    mean 'material'?)" when one allowed key is close (:func:`difflib.get_close_matches`), else
    the allowed keys. ``what``: where the key is, e.g. " in the card"."""
    choices = list(allowed)
    close = difflib.get_close_matches(str(key), choices, n=1, cutoff=0.6)
    hint = (f"did you mean '{close[0]}'?" if close else
            f"allowed: {', '.join(choices)}" if choices else "nothing is allowed here")
    return f"unknown key '{key}'{what} ({hint})"

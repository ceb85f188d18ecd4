"""Field rules shared by entities: lengths, ranges and text that a store can hold."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from domain.errors import FieldError, InvalidInput

INT64_MAX = 2**63 - 1
# Text fields (names, authors, full names) hold no control characters: no NUL, tab, newline,
# escape or C1 control. A name that looks the same as another, or breaks a log line, is refused.
CONTROL_CHARACTERS = r"\u0000-\u001f\u007f-\u009f"
TEXT_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text (control characters such as NUL or a newline,
    lone surrogates), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if _CONTROL.search(value):
        return "must not contain control characters (U+0000 to U+001F, U+007F to U+009F)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


@dataclass(frozen=True)
class Text:
    min_length: int
    max_length: int

    def check(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        if not self.min_length <= len(value) <= self.max_length:
            return f"must be {self.min_length} to {self.max_length} characters long"
        return text_problem(value)


@dataclass(frozen=True)
class Integer:
    minimum: int
    maximum: int

    def check(self, value: object) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be an integer"
        if not self.minimum <= value <= self.maximum:
            return f"must be between {self.minimum} and {self.maximum}"
        return None


Rule = Text | Integer


def validate(rules: Mapping[str, Rule], values: Mapping[str, object], *, partial: bool) -> None:
    """Raise InvalidInput naming every unknown, missing or invalid field."""
    errors = [FieldError(name, "is not a known field") for name in values if name not in rules]
    for name, rule in rules.items():
        if name not in values:
            if not partial:
                errors.append(FieldError(name, "is required"))
            continue
        problem = rule.check(values[name])
        if problem:
            errors.append(FieldError(name, problem))
    if errors:
        raise InvalidInput(errors)

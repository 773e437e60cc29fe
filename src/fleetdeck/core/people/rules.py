"""The rules an end user's names, e-mail address and password follow.

End users are invited by, and log in with, their e-mail address, and the MSP consoles that
create them hold their names and passwords to a narrow format: names of ASCII letters and
spaces, passwords of 6-20 printable ASCII characters from a fixed set. Every problem is reported
at once (``Problem``: a field and core's word for what is wrong), so a transport can show each."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_RE = re.compile(r"^[A-Za-z ]+$")
NAME_MAX = 100
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
EMAIL_MAX = 150
PASSWORD_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + "~`!@#$%^&*()-_+={}|[];\\'\"<>,.?/"
)
PASSWORD_MIN = 6
PASSWORD_MAX = 20

# what is wrong with a field
BLANK = "blank"
CHARACTERS = "characters"
LENGTH = "length"
FORMAT = "format"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # first_name | last_name | email | password
    what: str  # BLANK | CHARACTERS | LENGTH | FORMAT


def name_problems(field: str, value: str) -> list[Problem]:
    if not value.strip():
        return [Problem(field, BLANK)]
    if not NAME_RE.match(value):
        return [Problem(field, CHARACTERS)]
    if len(value) > NAME_MAX:
        return [Problem(field, LENGTH)]
    return []


def normal_email(value: str) -> str:
    return value.strip().lower()


def email_problems(value: str) -> list[Problem]:
    email = normal_email(value)
    if not email:
        return [Problem("email", BLANK)]
    if len(email) > EMAIL_MAX or not EMAIL_RE.match(email):
        return [Problem("email", FORMAT)]
    return []


def password_problems(value: str) -> list[Problem]:
    if not value:
        return [Problem("password", BLANK)]
    found = []
    if any(ch not in PASSWORD_CHARS for ch in value):
        found.append(Problem("password", CHARACTERS))
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        found.append(Problem("password", LENGTH))
    return found

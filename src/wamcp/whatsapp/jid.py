"""WhatsApp JIDs and phone numbers: one normal form for every way servers and users spell them.

Servers disagree on spelling: the old web client wrote ``447700900123@c.us``, whatsmeow writes
``447700900123@s.whatsapp.net`` (sometimes with a device suffix ``:12``), and users type ``+44 7700 900123``. Everything
inside wamcp uses the whatsmeow form, so chats from different sources compare equal. Phone numbers are validated with
``phonenumbers`` and returned in E.164 (``+447700900123``); errors never echo a full number (see :mod:`wamcp.redact`).
"""

from __future__ import annotations

import re

import phonenumbers

from ..errors import MCPClientError
from ..redact import mask_phone

_E164_SHAPE = re.compile(r"\+[1-9]\d{6,14}")

__all__ = [
    "GROUP_SUFFIX",
    "USER_SUFFIX",
    "InvalidJIDError",
    "InvalidPhoneNumberError",
    "is_group_jid",
    "jid_user",
    "normalize_jid",
    "validate_phone_number",
]

USER_SUFFIX = "@s.whatsapp.net"
GROUP_SUFFIX = "@g.us"
_LEGACY_USER_SUFFIX = "@c.us"
# E.164 numbers have at most 15 digits; bare ids longer than that are group ids (``120363…``, 18 digits).
_MAX_PHONE_DIGITS = 15
_PHONE_PUNCTUATION = str.maketrans("", "", " -().\u00a0/")


# Examples in error hints, written so that redaction (which masks any run of 7+ digits) leaves them readable.
_EXAMPLE_PHONE = "+44 7700 900123"
_EXAMPLE_JID = "<country code><number>@s.whatsapp.net"


class InvalidJIDError(MCPClientError, ValueError):
    """A chat or contact identifier that is neither a JID nor a phone number."""


class InvalidPhoneNumberError(MCPClientError, ValueError):
    """A phone number that is not a valid international (E.164) number."""


def is_group_jid(jid: str) -> bool:
    """True for group chats (``…@g.us``)."""
    return jid.endswith(GROUP_SUFFIX)


def jid_user(jid: str) -> str:
    """The part before ``@`` (a phone number for direct chats), without any device suffix."""
    user = jid.split("@", 1)[0]
    return user.split(":", 1)[0].split(".", 1)[0] if "@" in jid else user


def normalize_jid(value: str) -> str:
    """Return the canonical JID for ``value``.

    ``447700900123@c.us`` -> ``447700900123@s.whatsapp.net``; ``+44 7700 900123`` -> ``447700900123@s.whatsapp.net``;
    ``447700900123:12@s.whatsapp.net`` (a device JID) -> ``447700900123@s.whatsapp.net``; a bare id of more than 15
    digits, or an old ``<creator>-<time>`` group id, -> ``…@g.us``. A number without its country code (``07700
    900123``) is refused: no JID starts with 0. Other servers' JIDs (``@lid``, ``@newsletter``,
    ``@broadcast``) pass through lowercased in the domain.
    """
    text = value.strip()
    if not text:
        raise InvalidJIDError("empty chat identifier", hint=f"pass a JID such as {_EXAMPLE_JID}")
    if "@" in text:
        user, _, domain = text.partition("@")
        domain = domain.lower()
        if not user or not domain:
            raise InvalidJIDError(f"malformed JID {_shown(text)!r}", hint="expected <user>@<server>")
        if domain in ("c.us", "s.whatsapp.net"):
            return jid_user(text) + USER_SUFFIX
        return f"{user}@{domain}"
    head, sep, tail = text.partition("-")
    if sep and head.isdigit() and tail.isdigit() and len(tail) >= 9:
        return text + GROUP_SUFFIX  # an old group id: <creator's number>-<creation time>
    bare = text.translate(_PHONE_PUNCTUATION)
    if bare.startswith("+"):
        bare = bare[1:]
    elif bare.startswith("00"):
        bare = bare[2:]
    if bare.isdigit():
        if bare.startswith("0"):
            # No country code starts with 0: "07700 900123" is a number as dialled inside its country, and as a
            # JID it would name nobody. Guessing the country is not ours to do.
            raise InvalidJIDError(
                f"{_shown(text)!r} has no country code (a number written for dialling inside its country)",
                hint=f"write it with the country code, e.g. {_EXAMPLE_PHONE}",
            )
        return bare + (GROUP_SUFFIX if len(bare) > _MAX_PHONE_DIGITS else USER_SUFFIX)
    raise InvalidJIDError(
        f"{_shown(text)!r} is neither a JID nor a phone number",
        hint=f"use a JID ({_EXAMPLE_JID}, or a group's <digits>@g.us) or a phone number ({_EXAMPLE_PHONE})",
    )


def validate_phone_number(number: str, *, strict: bool = False) -> str:
    """Return ``number`` in E.164 form (``+447700900123``) or raise :class:`InvalidPhoneNumberError`.

    An international prefix is expected (``+44…`` or ``0044…``); a number without one is read as if it had ``+``.
    By default any number of E.164 shape passes (``+``, then 7 to 15 digits not starting with 0): the seed's own
    example ``+1234567890`` must work, and a server is the better judge of the numbers it serves. ``strict=True``
    requires a range the country's numbering plan has allocated.
    """
    text = number.strip()
    if any(ch.isalpha() for ch in text):
        # phonenumbers reads letters as a keypad's (vanity numbers: "+44 7700 900abc" became +447700900222); a
        # WhatsApp number is digits, so a letter is a typo or the wrong field, never a number to dial.
        raise InvalidPhoneNumberError(
            f"{_shown(number)!r} is not a phone number (it holds letters)",
            hint=f"use international E.164 form, e.g. {_EXAMPLE_PHONE}",
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+"):
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as err:
        raise InvalidPhoneNumberError(
            f"{_shown(number)!r} is not a phone number ({err._msg})",
            hint=f"use international E.164 form, e.g. {_EXAMPLE_PHONE}",
        ) from err
    if not strict and not phonenumbers.is_possible_number(parsed):
        digits = "".join(ch for ch in text if ch.isdigit())
        if _E164_SHAPE.fullmatch("+" + digits) and not any(ch.isalpha() for ch in text):
            return "+" + digits
    valid = phonenumbers.is_valid_number(parsed) if strict else phonenumbers.is_possible_number(parsed)
    if not valid:
        raise InvalidPhoneNumberError(
            f"{_shown(number)!r} is not a valid phone number for its country code",
            hint=f"use international E.164 form with the country code, e.g. {_EXAMPLE_PHONE}",
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _shown(text: str) -> str:
    """A user's input as it may appear in an error: long digit runs masked."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 7:
        return mask_phone(text.strip())
    return text.strip()

"""Timestamps as Graph writes them.

Internally a point in time is an integer count of 100 ns ticks since the Unix
epoch (the precision of a 7-digit fraction). Graph writes UTC timestamps with a
'Z' and anywhere from 0 to 7 fractional digits; format() does the same, and
parse() reads them back, leniently (a missing 'T' between date and time is
accepted, as the teamsfs spec demands).
"""

import datetime
import re

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MS = 10_000

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

_TS_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[Tt ]?(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$"
)


def ticks_from_datetime(dt):
    """Ticks for an aware or naive (taken as UTC) datetime."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def ticks(year, month, day, hour=0, minute=0, second=0):
    return ticks_from_datetime(datetime.datetime(year, month, day, hour, minute, second))


def format_ticks(t, digits=3):
    """ISO-8601 UTC with `digits` (0-7) fractional digits, truncated, and 'Z'."""
    if not 0 <= digits <= 7:
        raise ValueError("digits must be 0..7")
    seconds, frac = divmod(t, TICKS_PER_SECOND)
    dt = _EPOCH + datetime.timedelta(seconds=seconds)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + ("%07d" % frac)[:digits]
    return text + "Z"


def parse(text):
    """Ticks for a timestamp string, or None if it cannot be read.

    Accepts 'YYYY-MM-DDTHH:MM[:SS[.fffffff]]' with an optional 'Z' or offset;
    the 'T' may be missing or a space. Fractions beyond 7 digits are truncated.
    """
    if not isinstance(text, str):
        return None
    m = _TS_RE.match(text)
    if not m:
        return None
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    frac = (m.group(7) or "")[:7].ljust(7, "0")
    try:
        dt = datetime.datetime(year, month, day, hour, minute, second,
                               tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    t = ticks_from_datetime(dt) + int(frac)
    zone = m.group(8)
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
        t -= sign * offset * TICKS_PER_SECOND
    return t


def message_ticks(msg):
    """The time a message is filtered on: lastModifiedDateTime, else
    createdDateTime (both parsed leniently), else None."""
    if not isinstance(msg, dict):
        return None
    t = parse(msg.get("lastModifiedDateTime"))
    if t is None:
        t = parse(msg.get("createdDateTime"))
    return t


def now_iso():
    """Current UTC time as Graph's innerError.date writes it (no fraction, no Z)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def now_aad():
    """Current UTC time as Azure AD error bodies write it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")

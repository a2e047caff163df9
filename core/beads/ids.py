"""Bead ids, computed exactly as beads does (``internal/idgen``, classic and current eras).

A top-level id is ``f"{prefix}-{hash}"`` where hash is ``sha256(f"{title}|{description}|{actor}|
{created_ns}|{nonce}")``: its first N bytes (N by length: 3->2, 4->3, 5->4, 6->4, 7->5, 8->5) read as a
big-endian integer, written in base 36 (0-9a-z), left-padded with 0, keeping the last ``length``
characters. The length is the smallest L in 3..8 whose birthday-collision probability
``1 - exp(-n^2 / (2 * 36^L))`` stays <= 0.25 for the n top-level ids already using the prefix. On a
collision nonces 0-9 are tried, then the next length. Children of P are ``P.1``, ``P.2``, ... (at most
3 levels below a top-level id).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from core.errors import Conflict, GtError

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
HASH_BYTES = {3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 8: 5}
MIN_LENGTH, MAX_LENGTH = 3, 8
MAX_COLLISION_PROBABILITY = 0.25
NONCES = 10
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*-[A-Za-z0-9_-]+(\.[0-9]+)*$")
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def base36(data: bytes, length: int) -> str:
    """``data`` as a big-endian integer in base 36, left-padded with ``0``, last ``length`` chars."""
    n = int.from_bytes(data, "big")
    digits = []
    while n:
        n, r = divmod(n, 36)
        digits.append(ALPHABET[r])
    text = "".join(reversed(digits)).rjust(length, "0")
    return text[-length:]


def bead_id(prefix: str, title: str, description: str, actor: str, created_ns: int, length: int, nonce: int = 0) -> str:
    """Hash id of a bead, as beads computes it (internal/idgen).

    created_ns: creation time in Unix nanoseconds. length: 3..8 base36 characters.
    Raises ValueError if length is outside 3..8.
    """
    if length not in HASH_BYTES:
        raise ValueError(f"id length must be 3..8, got {length}")
    digest = _sha256(f"{title}|{description}|{actor}|{created_ns}|{nonce}".encode())
    return f"{prefix}-{base36(digest[: HASH_BYTES[length]], length)}"


def _sha256(data: bytes) -> bytes:
    """SHA-256 of ``data`` (32 bytes) from CPython's own implementation (``_sha256``, named ``_sha2``
    from 3.12), imported only to mint an id: ``hashlib`` loads OpenSSL first, about 4 ms of every
    ``bd create`` process against 0.4 ms. The same digest as ``hashlib.sha256``, which stands in where
    the built-in module is missing."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256  # type: ignore[no-redef,unused-ignore]
    return bytes(sha256(data).digest())


def id_length(existing: int) -> int:
    """Smallest length in 3..8 whose collision probability with ``existing`` top-level ids is <= 0.25
    (8 when none is)."""
    for length in range(MIN_LENGTH, MAX_LENGTH + 1):
        if 1 - math.exp(-existing * existing / (2 * 36.0**length)) <= MAX_COLLISION_PROBABILITY:
            return length
    return MAX_LENGTH


def new_id(
    prefix: str, title: str, description: str, actor: str, created_ns: int, existing: int, taken: Callable[[str], bool]
) -> str:
    """A fresh top-level id: the length for ``existing`` ids, nonces 0-9, then longer lengths.

    prefix: e.g. ``mp`` or, with a middle part, ``hq-cv``. taken(id) -> True if the id is in use.
    Raises Conflict if every length and nonce collides.
    """
    for length in range(id_length(existing), MAX_LENGTH + 1):
        for nonce in range(NONCES):
            candidate = bead_id(prefix, title, description, actor, created_ns, length, nonce)
            if not taken(candidate):
                return candidate
    raise Conflict(f"could not find a free id for prefix {prefix!r}: pass an explicit id")


def child_id(parent: str, n: int) -> str:
    """The ``n``-th child id of ``parent`` (``mp-a3f8`` -> ``mp-a3f8.1``)."""
    return f"{parent}.{n}"


def depth(bead: str) -> int:
    """How many levels ``bead`` sits below its top-level ancestor (``mp-a3f8.1.2`` -> 2)."""
    return bead.count(".")


def check_id(bead: str) -> str:
    """Return ``bead`` if it is a valid id (``prefix-rest`` of letters, digits, ``_`` and ``-``, then
    optional ``.N`` child parts; at most 200 characters). Raises GtError otherwise.

    Ids become branch and directory names (``polecat/<name>/<bead>``), so nothing else is allowed.
    """
    if not isinstance(bead, str) or len(bead) > 200 or not ID_RE.match(bead):
        raise GtError(f"invalid bead id {bead!r}: use prefix-hash such as mp-a3f8 (letters, digits, - _ and .N)")
    return bead


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid id prefix, optionally with a middle part (``hq``, ``hq-cv``).

    Raises GtError otherwise.
    """
    if not isinstance(prefix, str) or len(prefix) > 40 or not PREFIX_RE.match(prefix):
        raise GtError(f"invalid bead prefix {prefix!r}: use lowercase letters and digits, e.g. mp or hq-cv")
    return prefix

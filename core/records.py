"""Record classes with a dataclass's behaviour, written out once (issue 19).

Every gt process defines a handful of records (a bead, a role, a message, a polecat...). ``@dataclass``
writes their methods with ``exec`` when the module is imported, about 0.4 ms of CPU per method, and
imports :mod:`inspect`; on the per-prompt hook path that was a fifth of the process. These two bases
give the same behaviour from one place: a subclass lists its fields in ``_FIELDS`` (in order) and
writes only its ``__init__`` (and its own methods).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Record:
    """A mutable record, as a plain ``@dataclass`` makes one: the repr names every field of
    ``_FIELDS`` in order (``Name(a=1, b='x')``); equal to a record of the same class whose fields are
    equal (NotImplemented for any other class); unhashable."""

    __slots__ = ()
    _FIELDS: tuple[str, ...] = ()
    # unhashable: a class that defines __eq__ and not __hash__ gets __hash__ = None (mutable: never a key)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, field) for field in self._FIELDS)

    def __repr__(self) -> str:
        shown = ", ".join(f"{field}={getattr(self, field)!r}" for field in self._FIELDS)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()


class Frozen(Record):
    """An immutable record, as ``@dataclass(frozen=True)`` makes one: ``__init__`` sets the fields once
    with :meth:`_set`; assigning or deleting a field raises AttributeError; hashed by its fields; copied
    and pickled through ``__init__``. A subclass declares ``__slots__ = _FIELDS = (...)``."""

    __slots__ = ()

    def _set(self, *values: Any) -> None:
        """Set the ``_FIELDS`` to ``values``, in order (ValueError when the counts differ)."""
        for field, value in zip(self._FIELDS, values, strict=True):
            object.__setattr__(self, field, value)

    def __setattr__(self, field: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {field!r}: a {type(self).__name__} is immutable")

    def __delattr__(self, field: str) -> None:
        raise AttributeError(f"cannot delete field {field!r}: a {type(self).__name__} is immutable")

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[type[Frozen], tuple[Any, ...]]:
        return (type(self), self._key())  # copy and pickle rebuild it through __init__

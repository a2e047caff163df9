"""Counting words and characters."""


def word_count(text: str) -> int:
    """Number of words in ``text`` (words are separated by whitespace)."""
    if not text:
        return 0
    return len(text.split(" "))


def char_count(text: str, spaces: bool = True) -> int:
    """Number of characters in ``text``; without ``spaces``, whitespace is not counted."""
    if spaces:
        return len(text)
    return sum(1 for ch in text if not ch.isspace())

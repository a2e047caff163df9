"""Text clean-up helpers."""


def normalize(text: str) -> str:
    """Lower-case ``text`` and collapse runs of whitespace to one space."""
    words = []
    for word in text.split():
        words.append(word.lower())
    return " ".join(words)


def title_case(text: str) -> str:
    """Capitalise the first letter of every word of ``text`` (after normalizing it)."""
    words = []
    for word in normalize(text).split():
        words.append(word[:1].upper() + word[1:])
    return " ".join(words)

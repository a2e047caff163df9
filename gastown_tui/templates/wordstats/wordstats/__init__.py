"""wordstats: small text statistics."""

from wordstats.counting import char_count, word_count
from wordstats.text import normalize, title_case

__all__ = ["char_count", "normalize", "title_case", "word_count"]

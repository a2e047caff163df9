from wordstats import char_count, word_count


def test_word_count_simple():
    assert word_count("hello world") == 2


def test_word_count_empty():
    assert word_count("") == 0


def test_char_count():
    assert char_count("a b") == 3
    assert char_count("a b", spaces=False) == 2

from wordstats import normalize, title_case


def test_normalize():
    assert normalize("  Hello   WORLD ") == "hello world"


def test_title_case():
    assert title_case("the gas  town") == "The Gas Town"

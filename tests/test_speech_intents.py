"""Intent matching on Italian and English transcripts: synonyms, confirmation, rejection."""

from ivr.speech.intents import UNKNOWN, Outcome, from_mapping, normalise, yes_no

INTENTS = from_mapping(
    {
        "it": {
            "anagrafe": ["anagrafe", "certificato di residenza", "carta d'identità", "residenza"],
            "tributi": ["tributi", "tasse", "tari", "imu"],
            "polizia": ["polizia locale", "vigili", "multa"],
        },
        "en": {
            "anagrafe": ["registry office", "residence certificate", "identity card"],
            "tributi": ["taxes", "local taxes", "waste tax"],
            "polizia": ["local police", "fine"],
        },
    }
)


def test_normalise_drops_accents_stop_words_and_elisions():
    assert normalise("Vorrei un certificato di Residenza, per favore!", "it") == (
        "certificato",
        "residenza",
    )
    assert normalise("la carta d'identità", "it") == ("carta", "identita")


def test_italian_sentences_and_synonyms_route():
    for said, target in [
        ("vorrei un certificato di residenza", "anagrafe"),
        ("anagrafe", "anagrafe"),
        ("tributi", "tributi"),
        ("devo pagare la tari", "tributi"),
        ("ho preso una multa", "polizia"),
        ("i vigili", "polizia"),
    ]:
        m = INTENTS.match(said, "it")
        assert (m.outcome, m.target) == (Outcome.ACCEPT, target), said


def test_english_routes():
    m = INTENTS.match("I'd like a residence certificate please", "en")
    assert (m.outcome, m.target) == (Outcome.ACCEPT, "anagrafe")
    assert INTENTS.match("taxes", "en").target == "tributi"


def test_partial_or_unsure_is_confirmed():
    m = INTENTS.match("polizia", "it")  # half of "polizia locale"
    assert (m.outcome, m.target) == (Outcome.CONFIRM, "polizia")
    m = INTENTS.match("anagrafe", "it", confidence=0.6)  # the recogniser was unsure
    assert (m.outcome, m.target) == (Outcome.CONFIRM, "anagrafe")


def test_ambiguous_between_targets_is_confirmed_not_guessed():
    m = INTENTS.match("tasse anagrafe", "it")
    assert m.outcome is Outcome.CONFIRM


def test_unknown_is_rejected():
    for said in ["", UNKNOWN, "buongiorno vorrei", "il meteo di domani"]:
        assert INTENTS.match(said, "it").outcome is Outcome.REJECT, said
    assert INTENTS.match("anagrafe", "fr").outcome is Outcome.REJECT


def test_grammar_and_vocabulary():
    grammar = INTENTS.grammar("it")
    assert grammar[-1] == UNKNOWN
    assert "certificato di residenza" in grammar
    assert {"certificato", "di", "residenza", "tributi"} <= INTENTS.vocabulary("it")
    assert UNKNOWN not in INTENTS.vocabulary("it")


def test_yes_no():
    assert yes_no("sì esatto", "it") is True
    assert yes_no("no", "it") is False
    assert yes_no("yes please", "en") is True
    assert yes_no("forse", "it") is None
    assert yes_no("sì no", "it") is None


# -- the teleassistance courtesy call's help words ------------------------------------------


def test_help_words_in_every_city_language_ask_for_help():
    from ivr.speech.intents import HELP, asks_for_help

    said = {
        "it": ["aiuto", "Aiuto!", "ho bisogno di aiuto", "voglio parlare con un operatore"],
        "en": ["help", "help me please", "I need an operator"],
        "fr": ["à l'aide", "au secours", "aide", "un opérateur s'il vous plaît"],
        "es": ["ayuda", "socorro", "quiero un operador"],
        "de": ["Hilfe", "Notfall"],
        "zh": ["救命", "帮助"],
        "ar": ["مساعدة", "النجدة"],
    }
    assert set(said) <= set(HELP) and {"it", "en", "fr", "es", "de", "zh", "ar"} <= set(HELP)
    for language, sentences in said.items():
        for sentence in sentences:
            assert asks_for_help(sentence, language), (language, sentence)


def test_anything_else_is_not_help():
    from ivr.speech.intents import asks_for_help

    for sentence, language in [
        ("tutto bene grazie", "it"),
        ("", "it"),
        (UNKNOWN, "it"),
        ("all is well", "en"),
        ("aiuto", "en"),  # another language's word
        ("aiuto", "xx"),  # a language without help words
    ]:
        assert not asks_for_help(sentence, language), (language, sentence)


def test_a_doubtful_help_word_still_counts_as_help():
    """A low confidence is a partial match (confirm): on a welfare call, a person takes over."""
    from ivr.speech.intents import asks_for_help

    assert asks_for_help("aiuto", "it", confidence=0.5)
    assert not asks_for_help("aiuto", "it", confidence=0.2)


def test_help_grammar_is_closed_and_per_language():
    from ivr.speech.intents import help_grammar

    grammar = help_grammar("it")
    assert "aiuto" in grammar and "operatore" in grammar and grammar[-1] == UNKNOWN
    assert "help" not in grammar
    assert help_grammar("xx") == ()

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

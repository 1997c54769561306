"""Intent matching on transcripts: pure, so the same decision runs in tests, console and calls.

A speech node lists, per language, the phrases and synonyms that lead to each target node. The
recogniser is given a closed grammar built from those same words (small offline vosk models are
accurate only on a closed vocabulary), and its transcript is matched back here. Why a score and
three outcomes: a transcript with every content word of one intent is routed at once; a partial
or ambiguous one is *confirmed* ("did you say anagrafe?") rather than guessed; anything else is
rejected and counts as a failed attempt (three end at the operator, like keypad menus).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

# Words that carry no intent; dropped on both sides so "vorrei un certificato di residenza"
# matches the phrase "certificato residenza".


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "it": _words(
        "il lo la i gli le un uno una di a da in con su per tra fra del dello della dei degli "
        "delle al allo alla ai agli alle dal dalla nel nella sul sulla e o ed mi ti ci si vorrei "
        "voglio vorremmo devo dovrei posso potrei per favore favore grazie buongiorno buonasera "
        "salve ho ha bisogno informazioni informazione parlare con sono che è questo quello "
        "fare come mio mia"
    ),
    "en": _words(
        "the a an of to for in on at with and or i i'd id would like want need please hello hi "
        "good morning afternoon thanks thank you my me some about speak talk to is it this that "
        "can could get have"
    ),
}

UNKNOWN = "[unk]"


class Outcome(Enum):
    ACCEPT = "accept"
    CONFIRM = "confirm"
    REJECT = "reject"


@dataclass(frozen=True)
class Match:
    """The best intent for a transcript: ``target`` is a node id (None when rejected)."""

    outcome: Outcome
    target: str | None
    score: float
    phrase: str | None = None


def normalise(text: str, language: str) -> tuple[str, ...]:
    """Lowercase, strip accents and punctuation, drop the language's stop words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = "".join(c if c.isalnum() or c == "'" else " " for c in plain)
    words = []
    for word in cleaned.split():
        # Italian elisions: "l'anagrafe", "dell'ufficio" -> "anagrafe", "ufficio".
        if "'" in word:
            word = word.rsplit("'", 1)[1]
        if word and word not in STOP_WORDS.get(language, frozenset()):
            words.append(word)
    return tuple(words)


@dataclass(frozen=True)
class Intents:
    """Per language: target node id -> phrases (each phrase is a synonym of the others)."""

    by_language: Mapping[str, Mapping[str, tuple[str, ...]]]
    accept: float = 0.8
    confirm: float = 0.45

    def targets(self) -> set[str]:
        return {t for table in self.by_language.values() for t in table}

    def grammar(self, language: str) -> list[str]:
        """The recogniser's closed grammar: every phrase as said, plus ``[unk]`` for the rest."""
        phrases: list[str] = []
        for table in self.by_language.get(language, {}).values():
            for phrase in table:
                text = " ".join(phrase.lower().split())
                if text not in phrases:
                    phrases.append(text)
        return [*phrases, UNKNOWN]

    def vocabulary(self, language: str) -> set[str]:
        """Every word the grammar uses (checked against the model's vocabulary at start-up)."""
        return {w for p in self.grammar(language) if p != UNKNOWN for w in p.split()}

    def match(self, transcript: str, language: str, confidence: float = 1.0) -> Match:
        """Score each phrase by the share of its content words heard (weighted by the
        recogniser's confidence); the best target wins, a tie between targets is confirmed."""
        heard = set(normalise(transcript.replace(UNKNOWN, " "), language))
        if not heard:
            return Match(Outcome.REJECT, None, 0.0)
        best: dict[str, tuple[float, str]] = {}
        for target, phrases in self.by_language.get(language, {}).items():
            for phrase in phrases:
                words = normalise(phrase, language)
                if not words:
                    continue
                covered = sum(1 for w in words if w in heard) / len(words)
                score = covered * max(0.0, min(confidence, 1.0))
                if score > best.get(target, (-1.0, ""))[0]:
                    best[target] = (score, phrase)
        if not best:
            return Match(Outcome.REJECT, None, 0.0)
        ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)
        target, (score, phrase) = ranked[0]
        tied = len(ranked) > 1 and ranked[1][1][0] == score
        if score >= self.accept and not tied:
            return Match(Outcome.ACCEPT, target, score, phrase)
        if score >= self.confirm:
            return Match(Outcome.CONFIRM, target, score, phrase)
        return Match(Outcome.REJECT, None, score)


YES = {"it": ("si", "sì", "esatto", "certo", "giusto"), "en": ("yes", "yeah", "right", "correct")}
NO = {"it": ("no", "sbagliato"), "en": ("no", "nope", "wrong")}


def yes_no(transcript: str, language: str) -> bool | None:
    """A spoken confirmation: True for yes, False for no, None when neither (or both)."""
    words = set(normalise(transcript, "")) if transcript else set()
    yes = any(w in words for w in normalise(" ".join(YES.get(language, ())), ""))
    no = any(w in words for w in normalise(" ".join(NO.get(language, ())), ""))
    return yes if yes != no else None


def from_mapping(
    raw: Mapping[str, Mapping[str, Iterable[str]]], accept: float = 0.8, confirm: float = 0.45
) -> Intents:
    """Build from YAML-shaped data: ``{lang: {target: [phrase, ...]}}``."""
    return Intents(
        {lang: {t: tuple(ps) for t, ps in table.items()} for lang, table in raw.items()},
        accept=accept,
        confirm=confirm,
    )


# Words a citizen says on the teleassistance courtesy call to reach a person at once (key 2's
# meaning), per language. Only help is understood by speech: "all well" takes key 1, so a
# misheard word can put a citizen through to an operator but never mark them well. Korean is
# the language of the one vosk model installable offline (the real-Asterisk test speaks it).
HELP: dict[str, tuple[str, ...]] = {
    "it": ("aiuto", "aiutatemi", "operatore", "operatrice", "soccorso", "emergenza"),
    "en": ("help", "help me", "operator", "emergency"),
    "fr": ("aide", "à l'aide", "au secours", "secours", "opérateur", "opératrice", "urgence"),
    "es": ("ayuda", "ayúdenme", "socorro", "operador", "operadora", "emergencia"),
    "de": ("hilfe", "notfall", "notruf", "vermittlung"),
    "zh": ("帮助", "救命", "人工", "接线员"),
    "ar": ("مساعدة", "النجدة", "ساعدوني", "موظف"),
    "ko": ("도와주세요", "살려주세요", "상담원"),
}
HELP_INTENTS = from_mapping({lang: {"help": words} for lang, words in HELP.items()})


def help_grammar(language: str) -> tuple[str, ...]:
    """The recogniser's closed grammar for the courtesy call's question (empty: no help words
    in this language, so the question is asked with keys only)."""
    return tuple(HELP_INTENTS.grammar(language)) if language in HELP else ()


def asks_for_help(transcript: str, language: str, confidence: float = 1.0) -> bool:
    """Whether the citizen asked for a person. A partial match counts too: erring towards a
    human is the safe side of a welfare call."""
    match = HELP_INTENTS.match(transcript, language, confidence)
    return match.outcome is not Outcome.REJECT

"""What the call-flow engine asks the outside world to do, and what it is told back.

The engine is pure: it never touches a socket or a clock. It returns one *action* at a time;
whoever runs the call (the FastAGI runner, the console phone, the browser simulator) performs it
and feeds back one *event*. Keeping this vocabulary tiny is what lets the same flow run everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DTMF_KEYS = "0123456789*#"


@dataclass(frozen=True)
class Prompt:
    """One recorded prompt: catalogue key in a language. Files live at ``<sounds>/<lang>/<key>``."""

    key: str
    language: str


@dataclass(frozen=True)
class Saying:
    """A dynamic part said by Asterisk in the caller's language (SAY DIGITS/NUMBER/DATE/TIME).

    ``kind`` is ``digits``, ``number``, ``date``, ``time`` or ``datetime``; ``value`` is the digits
    or the number as text, or epoch seconds for the date/time kinds.
    """

    kind: str
    value: str
    language: str


Piece = Prompt | Saying


@dataclass(frozen=True)
class Play:
    """Play prompts to the end; answer with :class:`Played` (or :class:`PromptFailed`)."""

    prompts: tuple[Piece, ...]


@dataclass(frozen=True)
class Ask:
    """Play prompts (any key barges in) then collect up to ``max_digits`` keys.

    Answer with :class:`Digits` (may be empty when the caller pressed ``#`` first) or
    :class:`NoInput` when ``timeout_ms`` passed with no key.
    """

    prompts: tuple[Piece, ...]
    max_digits: int = 1
    timeout_ms: int = 5000


@dataclass(frozen=True)
class Listen:
    """Play prompts, then listen to what the caller says; answer :class:`Heard` or NoInput.

    ``grammar`` lists the phrases worth recognising (a closed vocabulary makes small offline
    models accurate); a key pressed instead is answered with :class:`Digits`. When the listening
    itself cannot be done (no recogniser, the service down, the recording or a prompt failing)
    the answer is :class:`ListenFailed`.
    """

    prompts: tuple[Piece, ...]
    language: str
    grammar: tuple[str, ...] = ()
    timeout_ms: int = 6000


@dataclass(frozen=True)
class Record:
    """Play prompts, beep, then record the caller's voice message; answer :class:`Recorded`
    or :class:`RecordFailed`.

    ``max_s``: the longest message (0: the runner's own limit, a setting; a larger value is
    cut to it). The caller ends it with ``#``, by being silent for ``silence_s``, or by hanging
    up: what was said is kept in every case, so a message never depends on the call going on.
    """

    prompts: tuple[Piece, ...]
    max_s: int = 0
    silence_s: int = 4


@dataclass(frozen=True)
class Invoke:
    """Ask a city service (booking, callbacks, queue state...) and wait for its :class:`Result`.

    The engine stays pure: the runner looks ``service`` up in its registry and calls it with
    ``args``. A missing or failing service answers ``Result(error=...)``, never an exception.
    """

    service: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transfer:
    """Terminal: hand the call to a department's operator queue.

    ``context`` is what the operator sees (language, path, why the call came). ``dial``: ring
    this first (a switchboard directory entry: ``PJSIP/201``, the city PBX's dial string); the
    department's queue takes the caller if it does not answer.
    """

    department: str
    queue: str
    language: str
    reason: str = "menu"
    context: dict[str, str] = field(default_factory=dict)
    dial: str = ""


@dataclass(frozen=True)
class Hangup:
    """Terminal: say goodbye (the prompts), then hang up."""

    prompts: tuple[Piece, ...]


Action = Play | Ask | Listen | Record | Invoke | Transfer | Hangup
TERMINAL = (Transfer, Hangup)


@dataclass(frozen=True)
class Played:
    """The prompts of a :class:`Play` were heard to the end."""


@dataclass(frozen=True)
class Digits:
    """Keys the caller pressed in answer to an :class:`Ask`."""

    digits: str


@dataclass(frozen=True)
class NoInput:
    """The caller pressed nothing before the :class:`Ask` timed out."""


@dataclass(frozen=True)
class Heard:
    """What the caller said in answer to a :class:`Listen`, with the recogniser's confidence."""

    text: str
    confidence: float = 1.0


@dataclass(frozen=True)
class Result:
    """The answer of a service to an :class:`Invoke`: a value, or an error code."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class PromptFailed:
    """A prompt could not be played (missing file, broken audio). The engine routes to a human."""

    key: str = ""


@dataclass(frozen=True)
class ListenFailed:
    """A :class:`Listen` could not be performed; the node that listens decides what follows.

    ``reason``: ``no_recogniser`` (none configured), ``recogniser`` (the recognition service
    failed), ``record`` (Asterisk could not record the caller), ``prompt`` (a prompt of the
    Listen could not be played).
    """

    reason: str = ""


@dataclass(frozen=True)
class Recorded:
    """A :class:`Record` kept a message: ``file`` is its name in the recordings spool (not a
    path: where the spool is belongs to whoever runs the call)."""

    file: str


@dataclass(frozen=True)
class RecordFailed:
    """A :class:`Record` kept nothing. ``reason``: ``nothing`` (no sound before the caller
    stopped), ``record`` (Asterisk could not write the file), ``no_spool`` (no recordings
    folder where the call runs: the console phone), ``prompt`` (a prompt failed)."""

    reason: str = ""


Event = (
    Played
    | Digits
    | NoInput
    | Heard
    | Result
    | PromptFailed
    | ListenFailed
    | Recorded
    | RecordFailed
)

"""What the call-flow engine asks the outside world to do, and what it is told back.

The engine is pure: it never touches a socket or a clock. It returns one *action* at a time;
whoever runs the call (the FastAGI runner, the console phone, the browser simulator) performs it
and feeds back one *event*. Keeping this vocabulary tiny is what lets the same flow run everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DTMF_KEYS = "0123456789*#"


@dataclass(frozen=True)
class Prompt:
    """One recorded prompt: catalogue key in a language. Files live at ``<sounds>/<lang>/<key>``."""

    key: str
    language: str


@dataclass(frozen=True)
class Play:
    """Play prompts to the end; answer with :class:`Played` (or :class:`PromptFailed`)."""

    prompts: tuple[Prompt, ...]


@dataclass(frozen=True)
class Ask:
    """Play prompts (any key barges in) then collect up to ``max_digits`` keys.

    Answer with :class:`Digits` (may be empty when the caller pressed ``#`` first) or
    :class:`NoInput` when ``timeout_ms`` passed with no key.
    """

    prompts: tuple[Prompt, ...]
    max_digits: int = 1
    timeout_ms: int = 5000


@dataclass(frozen=True)
class Transfer:
    """Terminal: hand the call to a department's operator queue.

    ``context`` is what the operator sees (language, path, why the call came).
    """

    department: str
    queue: str
    language: str
    reason: str = "menu"
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hangup:
    """Terminal: say goodbye (the prompts), then hang up."""

    prompts: tuple[Prompt, ...]


Action = Play | Ask | Transfer | Hangup
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
class PromptFailed:
    """A prompt could not be played (missing file, broken audio). The engine routes to a human."""

    key: str = ""


Event = Played | Digits | NoInput | PromptFailed

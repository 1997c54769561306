"""The teleassistance courtesy call's question over FastAGI: a key, or "aiuto" said aloud.

``extensions.conf`` ``[nu-teleassistance]`` runs ``AGI(${NU_AGI_URL}/teleassistance)`` when the
city has speech (the rendered global ``NU_SPEECH``); the wiring (``ivr/service.py``) dispatches
on the FastAGI path to :func:`courtesy_handler`. It plays the greeting that says "press 2 or say
aiuto" and listens once with the inbound calls' listener, and answers in ``NU_TA_ANSWER``:

* ``1`` all well (key 1), ``2`` help (key 2, or a help word heard: ``asks_for_help``);
* ``none``: nothing heard or understood, another key: the dialplan asks again with keys only;
* unset: the question could not be asked here (no listener, a language without a model or help
  words, listening failed, any error): the dialplan asks with ``Read()`` exactly as without
  speech. The citizen never hears dead air.

What was said is personal: it is never logged, nor kept.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from ivr.agi.adapter import AGIHangup, CityAGI
from ivr.agi.runner import Listener
from ivr.asterisk import variables as V
from ivr.flow.actions import Digits, Event, Heard, Listen, NoInput, Prompt
from ivr.speech.intents import asks_for_help, help_grammar

SCRIPT = "teleassistance"  # the FastAGI path: AGI(agi://host:port/teleassistance)
PROMPT = "teleassistance_greeting_speech"  # "... press 1 ... press 2 or say 'aiuto'"
LISTEN_MS = 8000  # how long the citizen may speak after the greeting


def answer_for(event: Event, language: str) -> str:
    """The dialplan's answer for what the listener heard: ``1``, ``2``, ``none``; "" when the
    listening itself failed (the dialplan then asks with keys)."""
    if isinstance(event, Digits):
        return event.digits[:1] if event.digits[:1] in ("1", "2") else "none"
    if isinstance(event, Heard):
        return "2" if asks_for_help(event.text, language, event.confidence) else "none"
    if isinstance(event, NoInput):
        return "none"
    return ""  # ListenFailed: no recogniser, the service down, a prompt or recording failing


def courtesy_handler(
    listener: Listener | None, languages: Collection[str] | None = None
) -> Callable[[CityAGI], str]:
    """The handler for ``AGI(.../teleassistance)``. ``languages``: those the recognition service
    has a model for (None: any with help words)."""

    def handle(agi: CityAGI) -> str:
        language = (agi.get_variable(V.LANG) or "").strip()
        grammar = help_grammar(language)
        if listener is None or not grammar or (languages is not None and language not in languages):
            agi.log.info("courtesy call: no speech for this language, keys only")
            return ""
        try:
            event = listener(agi, Listen((Prompt(PROMPT, language),), language, grammar, LISTEN_MS))
            answer = answer_for(event, language)
            if answer:
                agi.set_variable(V.TA_ANSWER, answer)
        except AGIHangup:
            raise
        except Exception:  # anything at all: the dialplan asks with keys
            agi.log.exception("courtesy call: the spoken question failed, keys only")
            return ""
        # which way the citizen answered, never what they pressed or said
        agi.log.info("courtesy call: %s", type(event).__name__ if answer else "listening failed")
        return answer

    return handle

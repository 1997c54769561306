"""The call-flow engine: walks a dialplan for one call, one action at a time. No I/O.

Rules that hold for every flow, whatever the YAML says:
- three invalid or silent answers at a menu end in the general operator queue, never a hang-up;
- a prompt that cannot be played sends the caller to the general operator;
- a flow that keeps moving without asking the caller anything is cut short to the operator.

Core node kinds are handled here. Feature node kinds (booking, speech, callbacks...) live in their
own modules and plug in with :func:`register_behaviour`: a behaviour says what the node does when
entered and when answered, using the small API of :class:`CallSession` (``say``, ``ask``,
``invoke``, ``goto``, ``transfer_to``, ``retry_or_operator``...). It never does I/O itself:
anything outside the engine is an :class:`~ivr.flow.actions.Invoke` the runner performs. A
behaviour also gets the failures of its own actions (``ListenFailed`` after a ``Listen``).
What happens before a transfer node hands the caller over (e.g. the queues' saturation policy,
:mod:`ivr.queues.policy`) plugs in with :func:`register_transfer_hook`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Protocol

from ivr.flow.actions import (
    Action,
    Ask,
    Digits,
    Event,
    Hangup,
    Invoke,
    Listen,
    NoInput,
    Piece,
    Play,
    Played,
    Prompt,
    PromptFailed,
    Record,
    Transfer,
)
from ivr.flow.calendar import department_open
from ivr.flow.model import (
    Dialplan,
    GotoNode,
    HangupNode,
    HoursNode,
    LanguageNode,
    MenuNode,
    Node,
    PlayNode,
    TransferNode,
    hours_prompt,
)

MAX_AUTOMATIC_STEPS = 50


class SessionOver(RuntimeError):
    """An event was fed after the call already reached a transfer or a hang-up."""


class Jump(str):
    """Returned by a behaviour to move on to another node without asking the caller anything."""


class NodeBehaviour(Protocol):
    """What a feature node does. Return an action, or ``Jump(node_id)`` to move on at once."""

    def enter(self, session: CallSession, node: Any) -> Action | Jump: ...

    def answer(self, session: CallSession, node: Any, event: Event) -> Action | Jump: ...


_BEHAVIOURS: dict[type[Node], NodeBehaviour] = {}


def register_behaviour(node_type: type[Node], behaviour: NodeBehaviour) -> None:
    """Plug a feature node kind into the engine (its module calls this at import)."""
    _BEHAVIOURS[node_type] = behaviour


class TransferHook(Protocol):
    """Something to do when a transfer node is entered, before the caller is handed over.

    ``enter`` returns None to let the transfer happen as usual, or an action (or a ``Jump``): the
    hook then holds the node, and the answer to that action goes to its ``answer``, which ends
    the node its own way (``session.transfer_to(...)`` to hand over after all). Hooks are asked
    in the order they were registered; the first that does not return None holds the node.
    """

    def enter(self, session: CallSession, node: TransferNode) -> Action | Jump | None: ...

    def answer(self, session: CallSession, node: TransferNode, event: Event) -> Action | Jump: ...


_TRANSFER_HOOKS: list[TransferHook] = []


def register_transfer_hook(hook: TransferHook) -> None:
    """Plug a transfer hook into the engine (its module calls this at import; once is enough)."""
    if hook not in _TRANSFER_HOOKS:
        _TRANSFER_HOOKS.append(hook)


class CallSession:
    """One caller's walk through one dialplan version.

    ``now`` is the call's local time (used by hours nodes); ``switches`` are the manual
    night/emergency switches on at call start (department ids, or ``"*"`` for the whole city).
    ``caller`` carries what the call brought with it that nodes may need (e.g. ``number``);
    ``data`` is where feature nodes keep what they learnt during the call (offered slots, codes).
    """

    def __init__(
        self,
        dialplan: Dialplan,
        *,
        now: datetime,
        switches: frozenset[str] = frozenset(),
        language: str | None = None,
        caller: dict[str, str] | None = None,
    ):
        self.dialplan = dialplan
        self.now = now
        self.switches = switches
        self.language: str | None = language
        self.caller = dict(caller or {})
        self.data: dict[str, Any] = {}
        self.path: list[str] = []
        self.failures = 0
        self.finished: Action | None = None
        self._node: Node | None = None
        self._pending: tuple[Piece, ...] = ()  # pieces to prepend to the next action
        self._after_play: str | Transfer | None = None  # where to go once a Play is heard
        self._hook: TransferHook | None = None  # the transfer hook holding the current node

    # -- driving the call (used by runners) -------------------------------------------------

    @property
    def lang(self) -> str:
        return self.language or self.dialplan.default_language

    @property
    def node(self) -> Node | None:
        return self._node

    def start(self) -> Action:
        return self._enter(self.dialplan.start)

    def feed(self, event: Event) -> Action:
        if self.finished is not None:
            raise SessionOver(f"call already ended with {self.finished!r}")
        if isinstance(event, PromptFailed):
            return self.fallback("prompt")
        node = self._node
        if isinstance(event, Played) and self._after_play is not None:
            target, self._after_play = self._after_play, None
            if isinstance(target, Transfer):
                self.finished = target
                return target
            return self._enter(target)
        behaviour = _BEHAVIOURS.get(type(node)) if node is not None else None
        if behaviour is not None:
            return self._resolve(behaviour.answer(self, node, event))
        if isinstance(node, LanguageNode | MenuNode) and isinstance(event, Digits | NoInput):
            return self._answer(node, event)
        if isinstance(node, TransferNode) and self._hook is not None:
            return self._resolve(self._hook.answer(self, node, event))
        return self.fallback("error")

    def fallback(self, reason: str) -> Transfer:
        """Send the caller to the general operator; used for every failure, here or outside."""
        action = self._transfer_action(self.dialplan.operator.id, reason)
        self.finished = action
        return action

    # -- the API for node behaviours --------------------------------------------------------

    def p(self, *keys: str) -> tuple[Prompt, ...]:
        """Catalogue prompts in the caller's language."""
        return tuple(Prompt(k, self.lang) for k in keys)

    def say_first(self, *pieces: Piece) -> None:
        """Say these before whatever the next action says (e.g. "invalid choice")."""
        self._pending += pieces

    def play_then(self, pieces: tuple[Piece, ...], next_node: str) -> Play:
        """Say ``pieces`` to the end, then enter ``next_node``."""
        self._after_play = next_node
        return Play(self._with_pending(pieces))

    def ask(self, pieces: tuple[Piece, ...], max_digits: int = 1, timeout_ms: int = 5000) -> Ask:
        return Ask(self._with_pending(pieces), max_digits=max_digits, timeout_ms=timeout_ms)

    def listen(
        self, pieces: tuple[Piece, ...], grammar: tuple[str, ...], timeout_ms: int = 6000
    ) -> Listen:
        return Listen(self._with_pending(pieces), self.lang, grammar, timeout_ms)

    def record(self, pieces: tuple[Piece, ...], max_s: int = 0, silence_s: int = 4) -> Record:
        """Say ``pieces``, then record a voice message (answered Recorded/RecordFailed)."""
        return Record(self._with_pending(pieces), max_s=max_s, silence_s=silence_s)

    def invoke(self, service: str, /, **args: Any) -> Invoke:
        return Invoke(service, args)

    def goto(self, node_id: str) -> Jump:
        return Jump(node_id)

    def transfer_to(
        self,
        department_id: str,
        *,
        reason: str,
        prompt: str | None = "transferring",
        dial: str = "",
    ) -> Action:
        """Hand over to a department (say ``prompt`` first); unknown department -> operator.
        ``dial``: ring that first (a directory entry), the department if it does not answer."""
        if department_id not in self.dialplan.departments:
            department_id = self.dialplan.operator.id
        action = self._transfer_action(department_id, reason)
        if dial:
            action = dataclasses.replace(action, dial=dial)
        pieces = self._with_pending(self.p(prompt) if prompt else ())
        if pieces:
            self._after_play = action
            return Play(pieces)
        self.finished = action
        return action

    def retry_or_operator(self, retries: int, why: str) -> Action | None:
        """Count a failed answer. The last allowed one sends the caller to the operator (an
        action is returned); before that ``why`` (a prompt key) is queued and None returned."""
        self.failures += 1
        if self.failures >= retries:
            self.say_first(*self.p("too_many_attempts"))
            return self.transfer_to(self.dialplan.operator.id, reason="retries", prompt=None)
        self.say_first(*self.p(why))
        return None

    def hangup(self, pieces: tuple[Piece, ...]) -> Hangup:
        self.finished = Hangup(self._with_pending(pieces))
        return self.finished

    # -- walking ---------------------------------------------------------------------------

    def _with_pending(self, pieces: tuple[Piece, ...]) -> tuple[Piece, ...]:
        pending, self._pending = self._pending, ()
        return pending + tuple(pieces)

    def _resolve(self, outcome: Action | Jump, steps: int = 0) -> Action:
        return self._enter(outcome, steps) if isinstance(outcome, Jump) else outcome

    def _enter(self, node_id: str, steps: int = 0) -> Action:
        while True:
            if steps > MAX_AUTOMATIC_STEPS or node_id not in self.dialplan.nodes:
                return self.fallback("error")
            node = self.dialplan.nodes[node_id]
            if self._node is not node:
                self.failures = 0
            self._node = node
            self._hook = None
            self.path.append(node.id)
            steps += 1
            behaviour = _BEHAVIOURS.get(type(node))
            if behaviour is not None:
                outcome = behaviour.enter(self, node)
                if isinstance(outcome, Jump):
                    node_id = outcome
                    continue
                return outcome
            if isinstance(node, GotoNode):
                node_id = node.next
                continue
            if isinstance(node, HoursNode):
                dept = self.dialplan.departments[node.department]
                if department_open(dept, self.dialplan.calendar, self.now, self.switches).open:
                    node_id = node.open
                    continue
                return self.play_then(self.p("closed_now", hours_prompt(dept.id)), node.closed)
            if isinstance(node, PlayNode):
                return self.play_then(self.p(*node.prompts), node.next)
            if isinstance(node, LanguageNode):
                return self._ask_language(node)
            if isinstance(node, MenuNode):
                return self.ask(self.p(node.prompt), timeout_ms=node.timeout_ms)
            if isinstance(node, TransferNode):
                held = self._transfer_hooks(node)
                if isinstance(held, Jump):
                    node_id = held
                    continue
                if held is not None:
                    return held
                return self.transfer_to(node.department, reason="menu", prompt=node.prompt)
            if isinstance(node, HangupNode):
                return self.hangup(self.p(*node.prompts))
            return self.fallback("error")

    def _transfer_hooks(self, node: TransferNode) -> Action | Jump | None:
        for hook in _TRANSFER_HOOKS:
            outcome = hook.enter(self, node)
            if outcome is not None:
                self._hook = hook
                return outcome
        return None

    def _ask_language(self, node: LanguageNode) -> Ask:
        offered = tuple(Prompt(node.prompt, lang) for lang in dict.fromkeys(node.options.values()))
        return self.ask(offered, timeout_ms=node.timeout_ms)

    def _answer(self, node: LanguageNode | MenuNode, event: Digits | NoInput) -> Action:
        digit = event.digits[:1] if isinstance(event, Digits) else ""
        if digit and digit in node.options:
            if isinstance(node, LanguageNode):
                self.language = node.options[digit]
                return self._enter(node.next)
            return self._enter(node.options[digit])
        if isinstance(node, MenuNode) and digit and digit == node.repeat:
            self.path.append(node.id)
            return self.ask(self.p(node.prompt), timeout_ms=node.timeout_ms)
        why = "invalid_choice" if isinstance(event, Digits) else "no_input"
        give_up = self.retry_or_operator(node.retries, why)
        if give_up is not None:
            return give_up
        if isinstance(node, LanguageNode):
            return self._ask_language(node)
        return self.ask(self.p(node.prompt), timeout_ms=node.timeout_ms)

    def _transfer_action(self, department_id: str, reason: str) -> Transfer:
        dept = self.dialplan.departments[department_id]
        return Transfer(
            department=dept.id,
            queue=dept.queue,
            language=self.lang,
            reason=reason,
            context={"lang": self.lang, "path": ">".join(self.path), **self._said()},
        )

    def _said(self) -> dict[str, str]:
        """What the caller already told the machine, for the operator's screen."""
        said = self.data.get("said")
        return {"said": said} if isinstance(said, str) and said else {}

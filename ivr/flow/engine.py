"""The call-flow engine: walks a dialplan for one call, one action at a time. No I/O.

Rules that hold for every flow, whatever the YAML says:
- three invalid or silent answers at a menu end in the general operator queue, never a hang-up;
- a prompt that cannot be played sends the caller to the general operator;
- a flow that keeps moving without asking the caller anything is cut short to the operator.
"""

from __future__ import annotations

from datetime import datetime

from ivr.flow.actions import (
    Action,
    Ask,
    Digits,
    Event,
    Hangup,
    NoInput,
    Play,
    Played,
    Prompt,
    PromptFailed,
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


class CallSession:
    """One caller's walk through one dialplan version.

    ``now`` is the call's local time (used by hours nodes); ``switches`` are the manual
    night/emergency switches on at call start (department ids, or ``"*"`` for the whole city).
    """

    def __init__(
        self,
        dialplan: Dialplan,
        *,
        now: datetime,
        switches: frozenset[str] = frozenset(),
        language: str | None = None,
    ):
        self.dialplan = dialplan
        self.now = now
        self.switches = switches
        self.language: str | None = language
        self.path: list[str] = []
        self.failures = 0
        self.finished: Action | None = None
        self._node: Node | None = None
        self._pending: tuple[str, ...] = ()  # prompts to prepend to the next action
        self._after_play: str | Transfer | None = None  # where to go once a Play is heard

    # -- public API ------------------------------------------------------------------------

    @property
    def lang(self) -> str:
        return self.language or self.dialplan.default_language

    def start(self) -> Action:
        return self._enter(self.dialplan.start)

    def feed(self, event: Event) -> Action:
        if self.finished is not None:
            raise SessionOver(f"call already ended with {self.finished!r}")
        if isinstance(event, PromptFailed):
            return self.fallback("prompt")
        node = self._node
        if isinstance(event, Played):
            if self._after_play is None:
                return self.fallback("error")
            target, self._after_play = self._after_play, None
            if isinstance(target, Transfer):
                self.finished = target
                return target
            return self._enter(target)
        if isinstance(node, LanguageNode | MenuNode) and isinstance(event, Digits | NoInput):
            return self._answer(node, event)
        return self.fallback("error")

    def fallback(self, reason: str) -> Transfer:
        """Send the caller to the general operator; used for every failure, here or outside."""
        op = self.dialplan.operator
        action = Transfer(
            department=op.id,
            queue=op.queue,
            language=self.lang,
            reason=reason,
            context=self._context(),
        )
        self.finished = action
        return action

    # -- walking ---------------------------------------------------------------------------

    def _p(self, *keys: str, language: str | None = None) -> tuple[Prompt, ...]:
        lang = language or self.lang
        return tuple(Prompt(k, lang) for k in keys)

    def _with_pending(self, prompts: tuple[Prompt, ...]) -> tuple[Prompt, ...]:
        pending, self._pending = self._pending, ()
        return self._p(*pending) + prompts

    def _enter(self, node_id: str, steps: int = 0) -> Action:
        while True:
            if steps > MAX_AUTOMATIC_STEPS or node_id not in self.dialplan.nodes:
                return self.fallback("error")
            node = self.dialplan.nodes[node_id]
            if self._node is not node:
                self.failures = 0
            self._node = node
            self.path.append(node.id)
            steps += 1
            if isinstance(node, GotoNode):
                node_id = node.next
                continue
            if isinstance(node, HoursNode):
                dept = self.dialplan.departments[node.department]
                if department_open(dept, self.dialplan.calendar, self.now, self.switches).open:
                    node_id = node.open
                    continue
                return self._play(self._p("closed_now", hours_prompt(dept.id)), node.closed)
            if isinstance(node, PlayNode):
                return self._play(self._p(*node.prompts), node.next)
            if isinstance(node, LanguageNode):
                return self._ask_language(node)
            if isinstance(node, MenuNode):
                return self._ask(node, ())
            if isinstance(node, TransferNode):
                return self._transfer(node)
            if isinstance(node, HangupNode):
                self.finished = Hangup(self._with_pending(self._p(*node.prompts)))
                return self.finished
            return self.fallback("error")

    def _play(self, prompts: tuple[Prompt, ...], then: str) -> Play:
        self._after_play = then
        return Play(self._with_pending(prompts))

    def _ask(self, node: MenuNode, before: tuple[str, ...]) -> Ask:
        prompts = self._with_pending(self._p(*before, node.prompt))
        return Ask(prompts, max_digits=1, timeout_ms=node.timeout_ms)

    def _ask_language(self, node: LanguageNode, before: tuple[str, ...] = ()) -> Ask:
        offered = tuple(Prompt(node.prompt, lang) for lang in dict.fromkeys(node.options.values()))
        prompts = self._with_pending(self._p(*before)) + offered
        return Ask(prompts, max_digits=1, timeout_ms=node.timeout_ms)

    def _answer(self, node: LanguageNode | MenuNode, event: Digits | NoInput) -> Action:
        digit = event.digits[:1] if isinstance(event, Digits) else ""
        if digit and digit in node.options:
            if isinstance(node, LanguageNode):
                self.language = node.options[digit]
                return self._enter(node.next)
            return self._enter(node.options[digit])
        if isinstance(node, MenuNode) and digit and digit == node.repeat:
            self.path.append(node.id)
            return self._ask(node, ())
        self.failures += 1
        if self.failures >= node.retries:
            self._pending = ("too_many_attempts",)
            return self._transfer_to(self.dialplan.operator.id, reason="retries", prompt=None)
        why = "invalid_choice" if digit or isinstance(event, Digits) else "no_input"
        if isinstance(node, LanguageNode):
            return self._ask_language(node, (why,))
        return self._ask(node, (why,))

    def _transfer(self, node: TransferNode) -> Action:
        return self._transfer_to(node.department, reason="menu", prompt=node.prompt)

    def _transfer_to(self, department_id: str, *, reason: str, prompt: str | None) -> Action:
        dept = self.dialplan.departments[department_id]
        action = Transfer(
            department=dept.id,
            queue=dept.queue,
            language=self.lang,
            reason=reason,
            context=self._context(),
        )
        prompts = self._with_pending(self._p(prompt) if prompt else ())
        if prompts:  # say the hand-over first; the transfer follows once it is heard
            self._after_play = action
            return Play(prompts)
        self.finished = action
        return action

    def _context(self) -> dict[str, str]:
        return {"lang": self.lang, "path": ">".join(self.path)}

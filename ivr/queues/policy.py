"""The saturation policy at a transfer: a transfer hook the engine runs before handing over.

A transfer to a department with a ``saturation:`` policy first asks the live queue state
(``Invoke("queues.state", queue=...)``, :mod:`ivr.queues.store`). Saturated
(:func:`~ivr.queues.estimate.saturated`): the caller goes to the policy's ``offer`` node
(self-service, ``speech``, ``callback``, "hold anyway"), unless the transfer node says ``hold``.
Otherwise the transfer goes ahead, told their place and the estimated minutes when they will
wait. The expected position and wait are kept in ``session.data`` either way (a callback keeps
the place the caller would have had). State that can't be read (Redis down, no watcher) never
blocks a call: the transfer goes ahead as usual.

The policy itself (``Department.saturation``, a :class:`~ivr.queues.estimate.SaturationPolicy`)
is parsed with the department by :mod:`ivr.flow.loader`; the prompts said here are
``ivr.flow.model.QUEUE_PROMPTS``. Pure: no I/O, like the engine it plugs into.
"""

from __future__ import annotations

from ivr.flow.actions import Action, Event, Piece, Result, Saying
from ivr.flow.engine import CallSession, Jump, register_transfer_hook
from ivr.flow.model import TransferNode
from ivr.queues.estimate import estimate_wait_s, minutes_to_say, queue_state, saturated

SERVICE = "queues.state"


class SaturationHook:
    def enter(self, session: CallSession, node: TransferNode) -> Action | Jump | None:
        """Departments with a policy ask their queue's state first; others transfer as usual."""
        dept = session.dialplan.departments.get(node.department)
        if dept is not None and dept.saturation is not None:
            return session.invoke(SERVICE, queue=dept.queue)
        return None

    def answer(self, session: CallSession, node: TransferNode, event: Event) -> Action | Jump:
        if not isinstance(event, Result):
            return session.fallback("error")
        return self._transfer_or_offer(session, node, event)

    def _transfer_or_offer(
        self, session: CallSession, node: TransferNode, event: Result
    ) -> Action | Jump:
        """Apply the department's saturation policy to the live queue state."""
        policy = session.dialplan.departments[node.department].saturation
        state = queue_state(event.value) if event.ok else None
        if policy is not None and state is not None:
            position = state.waiting + 1
            wait_s = estimate_wait_s(position, state)
            # kept either way: a callback offer keeps the place the caller would have had
            session.data["queue_position"] = position
            session.data["queue_wait_s"] = wait_s
            why = saturated(policy, state)
            if why is not None and not node.hold and policy.offer in session.dialplan.nodes:
                session.data["saturation"] = why
                return session.goto(policy.offer)
            if position > state.available:
                session.say_first(*queue_announcement(session, position, wait_s))
        return session.transfer_to(node.department, reason="menu", prompt=node.prompt)


def queue_announcement(
    session: CallSession, position: int, wait_s: float | None
) -> tuple[Piece, ...]:
    """ "You are number 3 in line; the wait is about 4 minutes" (the wait only when known)."""
    pieces: list[Piece] = [*session.p("queue_position")]
    pieces.append(Saying("number", str(position), session.lang))
    if wait_s is not None:
        minutes = minutes_to_say(wait_s)
        pieces += [*session.p("queue_wait_about"), Saying("number", str(minutes), session.lang)]
        pieces += session.p("minute" if minutes == 1 else "minutes")
    return tuple(pieces)


register_transfer_hook(SaturationHook())

"""KPIs from call records, side by side with the Italian targets (pure: records in, text out).

Definitions (each target's source and wording: ``docs/targets.md``):

* **served**: answered by an operator or self-served by the IVR, over all calls;
* **offered**: calls that reached an operator queue (queued, then answered, abandoned or not);
* **abandonment**: callers who hung up while queued, over offered (060606: under 3%);
* **average wait**: seconds in queue(s) before an operator answered, over answered calls
  (AGCOM ≤ 150 s, ARERA ≤ 240 s);
* **within 20 s**: answered within 20 s, over offered (AGCOM ≥ 40%);
* **answered**: answered by an operator, over offered (ARERA's service level, ≥ 80%);
* **lost with a node**: callers who were waiting in a queue of an Asterisk node that died
  (``ivr/queues/lost.py``; each is offered a callback): offered, never answered.

A figure with nothing to measure (no call queued) is shown as "-" and never counts as a miss.
The callback worker's placeholders (a kept place waiting in a queue) are not calls: left out.
A call handed over that no queue event ever reached (the watcher was down) stays "transferred"
and is not offered: the queue figures need the watcher running (``ivr up`` runs it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ivr.kpi.records import LOST_WITH_NODE, PLACEHOLDER

QUEUED = ("queued", "no_operator", "abandoned", "answered", LOST_WITH_NODE)
SERVED = ("answered", "self_served")
WITHIN_S = 20.0


@dataclass(frozen=True)
class Kpis:
    calls: int
    served: int
    offered: int
    answered: int
    abandoned: int
    callbacks: int
    avg_wait_s: float | None
    within_20: int
    lost_with_node: int = 0

    @staticmethod
    def _pct(part: int, whole: int) -> float | None:
        return 100.0 * part / whole if whole else None

    @property
    def served_pct(self) -> float | None:
        return self._pct(self.served, self.calls)

    @property
    def abandoned_pct(self) -> float | None:
        return self._pct(self.abandoned, self.offered)

    @property
    def within_20_pct(self) -> float | None:
        return self._pct(self.within_20, self.offered)

    @property
    def answered_pct(self) -> float | None:
        return self._pct(self.answered, self.offered)


def kpis(records: Iterable[Any]) -> Kpis:
    """The KPIs of ``records`` (anything with ``outcome`` and ``queue_wait_s``)."""
    calls = served = offered = answered = abandoned = callbacks = within = lost = 0
    waits: list[float] = []
    for rec in records:
        if is_placeholder(rec):
            continue
        calls += 1
        outcome = rec.outcome
        served += outcome in SERVED
        callbacks += outcome == "callback"
        if outcome not in QUEUED:
            continue
        offered += 1
        abandoned += outcome == "abandoned"
        lost += outcome == LOST_WITH_NODE
        if outcome == "answered":
            answered += 1
            wait = rec.queue_wait_s or 0.0
            waits.append(wait)
            within += wait <= WITHIN_S
    avg = sum(waits) / len(waits) if waits else None
    return Kpis(calls, served, offered, answered, abandoned, callbacks, avg, within, lost)


def is_placeholder(rec: Any) -> bool:
    return rec.reason == PLACEHOLDER and not rec.path


def department_of(rec: Any) -> str:
    """Where the IVR sent the call (the caller's need); the queue for calls that skipped it;
    ``(ivr only)`` for calls that ended in the IVR (self-served, hung up)."""
    return rec.department or rec.queue or "(ivr only)"


def by_department(records: Iterable[Any]) -> dict[str, Kpis]:
    groups: dict[str, list[Any]] = {}
    for rec in records:
        if is_placeholder(rec):
            continue
        groups.setdefault(department_of(rec), []).append(rec)
    return {name: kpis(recs) for name, recs in sorted(groups.items())}


@dataclass(frozen=True)
class Target:
    source: str
    what: str
    value: Callable[[Kpis], float | None]
    sign: str  # "≤", "<" or "≥", as the target is worded
    limit: float
    unit: str

    def met(self, k: Kpis) -> bool | None:
        v = self.value(k)
        if v is None:
            return None
        return {"≤": v <= self.limit, "<": v < self.limit, "≥": v >= self.limit}[self.sign]

    def text(self) -> str:
        return f"{self.sign} {self.limit:g}{self.unit}"


TARGETS = (
    Target("AGCOM", "average wait to an operator", lambda k: k.avg_wait_s, "≤", 150, " s"),
    Target("AGCOM", "answered within 20 s", lambda k: k.within_20_pct, "≥", 40, "%"),
    Target("ARERA", "average wait to an operator", lambda k: k.avg_wait_s, "≤", 240, " s"),
    Target("ARERA", "service level (answered)", lambda k: k.answered_pct, "≥", 80, "%"),
    Target("060606", "abandoned in queue", lambda k: k.abandoned_pct, "<", 3, "%"),
)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} s"


def shown(value: float | None, unit: str) -> str:
    """A figure as the report prints it ("-" when there was nothing to measure)."""
    return _secs(value) if unit == " s" else _pct(value)


@dataclass(frozen=True)
class TargetResult:
    target: Target
    value: float | None  # the city's figure
    met: bool | None  # None: nothing to measure, never a miss
    missing: tuple[str, ...]  # departments missing it


@dataclass(frozen=True)
class Report:
    """The figures the text report and the admin page both show, computed once, here."""

    city: Kpis
    departments: dict[str, Kpis]
    targets: tuple[TargetResult, ...]


def summarise(records: list[Any]) -> Report:
    """The city, each department and each target (met, missed or "-") for ``records``."""
    city = kpis(records)
    departments = by_department(records)
    targets = tuple(
        TargetResult(
            t,
            t.value(city),
            t.met(city),
            tuple(name for name, k in departments.items() if t.met(k) is False),
        )
        for t in TARGETS
    )
    return Report(city, departments, targets)


def render(records: list[Any], title: str) -> str:
    """The report: one line per department and the city, then each target, met or missed."""
    report = summarise(records)
    head = (
        f"{'':<14}{'calls':>7}{'served':>9}{'queued':>8}{'answered':>10}"
        f"{'abandoned':>11}{'avg wait':>10}{'≤ 20 s':>9}{'callback':>10}"
    )
    lines = [title, "", head]
    for name, k in [*report.departments.items(), ("city", report.city)]:
        lines.append(
            f"{name[:14]:<14}{k.calls:>7}{_pct(k.served_pct):>9}{k.offered:>8}"
            f"{_pct(k.answered_pct):>10}{_pct(k.abandoned_pct):>11}{_secs(k.avg_wait_s):>10}"
            f"{_pct(k.within_20_pct):>9}{k.callbacks:>10}"
        )
    lost = report.city.lost_with_node
    where = ", ".join(
        f"{name} {k.lost_with_node}" for name, k in report.departments.items() if k.lost_with_node
    )
    lines += ["", f"lost with a node: {lost}" + (f" ({where})" if where else "")]
    lines += ["", f"{'target':<46}{'city':>10}  {'':<7}departments missing it"]
    for r in report.targets:
        t = r.target
        met = {None: "-", True: "met", False: "MISSED"}[r.met]
        label = f"{t.source} {t.what} {t.text()}"
        lines.append(
            f"{label:<46}{shown(r.value, t.unit):>10}  {met:<7}{', '.join(r.missing) or '-'}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Per operator, from ``operator_events`` (ivr/kpi/operators.py): what each operator handled.

NO_REASON = "-"  # a pause with no reason given


@dataclass(frozen=True)
class OperatorFigures:
    """One operator over a period. Handling time is the contact centre's usual AHT: talk plus
    wrap-up, over the calls handled (a call with no wrap-up saved adds none)."""

    extension: str
    calls: int  # answered (AgentConnect)
    talk_s: float  # summed over the calls that ended (AgentComplete's TalkTime)
    wrapups: int
    wrapup_s: float
    pauses: dict[str, float]  # seconds paused, by reason

    @property
    def avg_handling_s(self) -> float | None:
        return (self.talk_s + self.wrapup_s) / self.calls if self.calls else None

    @property
    def avg_wrapup_s(self) -> float | None:
        return self.wrapup_s / self.wrapups if self.wrapups else None

    @property
    def pause_s(self) -> float:
        return sum(self.pauses.values())


def by_operator(events: Iterable[Any]) -> dict[str, OperatorFigures]:
    """Per operator (by extension, sorted) from ``events`` (anything with ``extension``,
    ``kind``, ``reason`` and ``seconds``): answers counted, hangups' talk and wrap-ups' lengths
    summed, pauses summed by reason from the unpauses (a pause still open is not counted)."""
    calls: dict[str, int] = {}
    talk: dict[str, float] = {}
    wrapups: dict[str, list[float]] = {}
    pauses: dict[str, dict[str, float]] = {}
    for ev in events:
        ext, kind, seconds = ev.extension, ev.kind, ev.seconds
        calls.setdefault(ext, 0)
        if kind == "answer":
            calls[ext] += 1
        elif kind == "hangup" and seconds is not None:
            talk[ext] = talk.get(ext, 0.0) + seconds
        elif kind == "wrapup" and seconds is not None:
            wrapups.setdefault(ext, []).append(seconds)
        elif kind == "unpause" and seconds is not None:
            mine = pauses.setdefault(ext, {})
            reason = ev.reason or NO_REASON
            mine[reason] = mine.get(reason, 0.0) + seconds
    return {
        ext: OperatorFigures(
            extension=ext,
            calls=calls[ext],
            talk_s=talk.get(ext, 0.0),
            wrapups=len(wrapups.get(ext, [])),
            wrapup_s=sum(wrapups.get(ext, [])),
            pauses=dict(sorted(pauses.get(ext, {}).items())),
        )
        for ext in sorted(calls)
    }

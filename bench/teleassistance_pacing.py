"""Teleassistance pacing: do a week of courtesy calls fit the calling hours on the channels?

    python bench/teleassistance_pacing.py [--citizens 5000] [--channels 10] [--operators 4]
        [--hours 4] [--weeks 3] [--first-week 2026-W15] [--seed 13] [--operator-share 0.3]
        [--answer-rates 0.8,0.9] [--no-answer 2 --busy 1 --machine 1 --failed 0]
        [--absent-share 0.002] [--day-calls 700]

Issue 13's question: ~700 courtesy calls a day in a 4-hour window on 10 outbound channels.
Seeded random citizens (1-3 preferred days, a window within or around the morning, a share of
operator calls, some suspended for a week, a few away without telling anyone who never answer)
go through :mod:`ivr.teleassistance.schedule` exactly as the dialer would: ``plan_week`` for each
week on the city's calendar (the example dialplan's: the default weeks hold Easter Monday and
25 April), then each day's attempts in time order, every outcome drawn at the given rates, a
miss holding its channel for ``--missed-seconds`` and retried through ``next_attempt`` on the
day's occupancy; the weeks' outcomes feed ``raises_alarm``. Each answer rate of
``--answer-rates`` is one run on the same citizens and the same seed (the misses split between
no answer, busy, machine and failed in the given proportions). Per day: the calls, attempts,
answered and missed weeks, the busiest minute's channels and operators, when the last attempt
ended, the channel-minutes used of those available (whole minutes, as the plan books them),
and whether the day fitted (every retry found a channel inside its window; a retry cut because
the citizen's own window was over is counted apart). Then the calls started per hour and the
alarms raised.

The 700-calls check, twice: ``calls_fitting`` (channel time only), and ``--day-calls``
citizens all to be called on one day, their windows the whole calling hours, planned and
dialled by the same rules at each answer rate. Figures, never pass/fail; nothing is written
anywhere (``bench/isolation.py``).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
import time as clock
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402
from ivr.teleassistance.schedule import (  # noqa: E402
    AUTOMATIC,
    OPERATOR,
    Attempt,
    Enrolled,
    Outcome,
    Pacing,
    PlannedCall,
    Retry,
    WeekMissed,
    WeekOutcome,
    book_for,
    calling_days,
    calls_fitting,
    next_attempt,
    plan_week,
    raises_alarm,
    retry_load,
    week_outcome,
)


def enrol(args: argparse.Namespace, mondays: list[date]) -> tuple[list[Enrolled], set[int]]:
    """Seeded citizens, and the ids of those away without telling (they never answer)."""
    rng = random.Random(args.seed)
    people, absent = [], set()
    for i in range(args.citizens):
        cid = i
        days = frozenset(rng.sample(range(7), rng.choice([1, 2, 2, 3, 3])))
        if rng.random() < args.afternoon_share:
            start, end = time(15, 0), time(18, 0)
        elif rng.random() < 0.6:
            start, end = time(9, 0), time(13, 0)
        else:
            first = rng.randrange(0, 7) * 30  # 09:00 to 12:00
            length = rng.choice([60, 90, 120])
            start = time(9 + first // 60, first % 60)
            last = min(first + length, 240)
            end = time(9 + last // 60, last % 60)
        suspended = ()
        if rng.random() < args.suspended_share * len(mondays):
            monday = rng.choice(mondays)
            suspended = ((monday - timedelta(days=1), monday + timedelta(days=6)),)
        kind = OPERATOR if rng.random() < args.operator_share else AUTOMATIC
        people.append(Enrolled(cid, days, start, end, kind, suspended=suspended))
        if rng.random() < args.absent_share:
            absent.add(cid)
    return people, absent


def parse_rates(text: str) -> list[float]:
    rates = [float(x) for x in text.split(",") if x.strip()]
    if not rates or not all(0 < r <= 1 for r in rates):
        raise SystemExit(f"--answer-rates: shares above 0 and at most 1, not {text!r}")
    return rates


def outcome_rates(answered: float, split: list[float]) -> list[float]:
    """Chances of answered, no answer, busy, machine, failed: the misses in ``split``'s
    proportions."""
    total = sum(split)
    if total <= 0:
        raise SystemExit("--no-answer, --busy, --machine, --failed: at least one above 0")
    return [answered] + [(1 - answered) * part / total for part in split]


@dataclass
class DayFigures:
    calls: int = 0
    attempts: int = 0
    answered: int = 0
    missed: int = 0
    reasons: Counter = field(default_factory=Counter)
    last_end: datetime | None = None
    used: int = 0  # channel-minutes held by attempts
    open_minutes: int = 0
    peak_channels: int = 0
    peak_operators: int = 0

    @property
    def fits(self) -> bool:
        """Every retry found a free channel (and operator) inside the citizen's window."""
        return not self.reasons["no_free_channel"]


def dial_day(
    calls: list[PlannedCall],
    day: date,
    pacing: Pacing,
    calendar: Any,
    rng: random.Random,
    rates: list[float],
    absent: set[int],
    missed_minutes: int,
    per_hour: Counter,
    outcomes_of: dict[int, WeekOutcome],
) -> DayFigures:
    """One calling day as the dialer runs it: the plan's first attempts, each outcome drawn,
    retries placed by ``next_attempt`` on the day's occupancy."""
    book = book_for(day, calls, pacing, calendar)
    queue = [(c.start, c.citizen_id, c, []) for c in calls]
    heapq.heapify(queue)
    found = DayFigures(calls=len(calls), open_minutes=book.closed.count(False))
    outcomes = list(Outcome)  # answered, no answer, busy, machine, failed
    while queue:
        at, cid, call, attempts = heapq.heappop(queue)
        drawn = rng.choices(outcomes, rates)[0]  # drawn for everyone: the same stream
        outcome = Outcome.NO_ANSWER if cid in absent else drawn
        found.attempts += 1
        per_hour[at.hour] += 1
        held = call.minutes
        if outcome is not Outcome.ANSWERED and call.minutes > missed_minutes:
            held = missed_minutes
            book.release(book.index(at) + missed_minutes, call.minutes - missed_minutes, call.kind)
        found.used += held
        end = at + timedelta(minutes=held)
        found.last_end = end if found.last_end is None else max(found.last_end, end)
        attempts.append(Attempt(at, outcome))
        step = next_attempt(call, attempts, pacing, book)
        if isinstance(step, Retry):
            book.take(book.index(step.at), call.minutes, call.kind)
            heapq.heappush(queue, (step.at, cid, call, attempts))
            continue
        if isinstance(step, WeekMissed):
            found.reasons[step.reason] += 1
            found.missed += 1
        else:
            found.answered += 1
        outcomes_of[cid] = week_outcome(attempts)
    found.peak_channels = max(book.channels, default=0)
    found.peak_operators = max(book.operators, default=0)
    return found


DAY_HEAD = (
    "day            calls attempts answered missed  peak ch/op  last ends  used   fits  "
    "(missed: exhausted/window/no channel)"
)


def day_line(label: str, d: DayFigures, pacing: Pacing) -> str:
    used = d.used / max(1, d.open_minutes * pacing.channels)
    r = d.reasons
    return (
        f"{label:14} {d.calls:5d} {d.attempts:8d} {d.answered:8d} {d.missed:6d}  "
        f"{d.peak_channels:3d}/{pacing.channels:<2d} {d.peak_operators:2d}/{pacing.operators:<2d} "
        f"{d.last_end:%H:%M}      {used:4.0%}   {'yes' if d.fits else 'NO':4}  "
        f"({r['attempts_exhausted']}/{r['window_over']}/{r['no_free_channel']})"
    )


def run_weeks(
    args: argparse.Namespace,
    people: list[Enrolled],
    absent: set[int],
    mondays: list[date],
    calendar: Any,
    pacing: Pacing,
    answered: float,
    split: list[float],
) -> None:
    """The weeks at one answer rate: a line per day and per week, calls per hour, alarms."""
    kinds = {p.citizen_id: p.kind for p in people}
    rates = outcome_rates(answered, split)
    rng = random.Random(args.seed + 1)
    missed_minutes = max(1, math.ceil(args.missed_seconds / 60))
    history: dict[int, list[WeekOutcome]] = {p.citizen_id: [] for p in people}
    alarms = days_n = days_fitting = 0
    per_hour: Counter = Counter()
    attempts_total = decided = answered_weeks = 0
    print(f"== answer rate {answered:.0%} per attempt ==")
    print(DAY_HEAD)
    for monday in mondays:
        y, w, _ = monday.isocalendar()
        started = clock.perf_counter()
        plan = plan_week(y, w, people, calendar, pacing)
        plan_s = clock.perf_counter() - started
        this_week: dict[int, WeekOutcome] = {}
        for n in plan.skipped:
            this_week[n.citizen_id] = WeekOutcome.SUSPENDED
        for n in plan.unfitted:
            this_week[n.citizen_id] = WeekOutcome.NOT_CALLED
        by_day = plan.by_day()
        for day in sorted(by_day):
            d = dial_day(
                by_day[day],
                day,
                pacing,
                calendar,
                rng,
                rates,
                absent,
                missed_minutes,
                per_hour,
                this_week,
            )
            days_n += 1
            days_fitting += d.fits
            attempts_total += d.attempts
            decided += d.answered + d.missed
            answered_weeks += d.answered
            print(day_line(f"{day} {day:%a}", d, pacing))
        raised = 0
        for cid, past in history.items():
            past.append(this_week.get(cid, WeekOutcome.NOT_CALLED))
            raised += raises_alarm(past)
        alarms += raised
        counts = [len(v) for v in by_day.values()]
        unfitted = Counter(f"{n.reason} ({kinds[n.citizen_id]})" for n in plan.unfitted)
        skipped = Counter(n.reason for n in plan.skipped)
        print(
            f"week {y}-W{w:02d}: {len(plan.calls)} planned on {len(counts)} days "
            f"(calls a day min {min(counts)}, mean {statistics.mean(counts):.0f}, "
            f"max {max(counts)}), skipped {dict(sorted(skipped.items())) or 0}, not fitted "
            f"{dict(sorted(unfitted.items())) or 0}, alarms raised {raised}, "
            f"plan {plan_s * 1000:.0f} ms"
        )
    print(
        "calls per hour (attempts started, mean per calling day): "
        + ", ".join(f"{h:02d}h {n / max(1, days_n):.0f}" for h, n in sorted(per_hour.items()))
    )
    print(
        f"days fitting their window: {days_fitting} of {days_n}; attempts {attempts_total}, "
        f"weeks answered {answered_weeks} of {decided} decided "
        f"({answered_weeks / max(1, decided):.1%})"
    )
    print(
        f"alarms at {answered:.0%}: {alarms} in {args.weeks} weeks "
        f"({len(absent)} citizens away without telling, who never answer)"
    )
    print()


def one_busy_day(
    args: argparse.Namespace, calendar: Any, pacing: Pacing, answered: float, split: list[float]
) -> tuple[int, int, DayFigures]:
    """``--day-calls`` citizens, every one to be called on the same day, their window the
    whole calling hours (the operator share as elsewhere): (planned, not fitted, the day)."""
    rng = random.Random(args.seed + 2)
    year, week = (int(x) for x in args.first_week.split("-W"))
    days = [date.fromisocalendar(year, week, d) for d in range(1, 8)]
    day = next(d for d in days if calling_days([d], calendar, pacing))
    people = [
        Enrolled(
            i,
            frozenset({day.weekday()}),
            pacing.calling_start,
            pacing.calling_end,
            OPERATOR if rng.random() < args.operator_share else AUTOMATIC,
        )
        for i in range(args.day_calls)
    ]
    plan = plan_week(year, week, people, calendar, pacing)
    found = dial_day(
        list(plan.calls),
        day,
        pacing,
        calendar,
        random.Random(args.seed + 1),
        outcome_rates(answered, split),
        set(),
        max(1, math.ceil(args.missed_seconds / 60)),
        Counter(),
        {},
    )
    return len(plan.calls), len(plan.unfitted), found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--operators", type=int, default=4)
    parser.add_argument("--start", default="09:00", help="calling hours start")
    parser.add_argument("--hours", type=float, default=4.0, help="calling hours length")
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--first-week", default="2026-W15", help="ISO week, e.g. 2026-W15")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--operator-share", type=float, default=0.3)
    parser.add_argument("--operator-seconds", type=int, default=180)
    parser.add_argument("--automatic-seconds", type=int, default=60)
    parser.add_argument("--missed-seconds", type=int, default=40, help="ringing out, busy, machine")
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--retry-minutes", type=int, default=30)
    parser.add_argument("--retry-reserve", type=float, default=0.2)
    parser.add_argument(
        "--answer-rates", default="0.8,0.9", help="share of attempts answered, one run each"
    )
    parser.add_argument("--no-answer", type=float, default=2, help="share of the misses")
    parser.add_argument("--busy", type=float, default=1, help="share of the misses")
    parser.add_argument("--machine", type=float, default=1, help="share of the misses")
    parser.add_argument("--failed", type=float, default=0, help="share of the misses")
    parser.add_argument("--suspended-share", type=float, default=0.02, help="per citizen-week")
    parser.add_argument("--absent-share", type=float, default=0.002, help="never answer")
    parser.add_argument("--afternoon-share", type=float, default=0.002, help="window 15-18")
    parser.add_argument("--day-calls", type=int, default=700, help="the one busy day's calls")
    parser.add_argument("--dialplan", default=str(ROOT / "dialplans" / "example-city.yaml"))
    args = parser.parse_args(argv)
    isolate("teleassistance_pacing")

    from ivr.flow.loader import load_dialplan

    answer_rates = parse_rates(args.answer_rates)
    split = [args.no_answer, args.busy, args.machine, args.failed]
    calendar = load_dialplan(args.dialplan).calendar
    start = time.fromisoformat(args.start)
    end_minutes = start.hour * 60 + start.minute + round(args.hours * 60)
    pacing = Pacing(
        channels=args.channels,
        operators=args.operators,
        operator_call_s=args.operator_seconds,
        automatic_call_s=args.automatic_seconds,
        attempts=args.attempts,
        retry_minutes=args.retry_minutes,
        calling_start=start,
        calling_end=time(end_minutes // 60, end_minutes % 60),
        retry_reserve=args.retry_reserve,
    )
    year, week = (int(x) for x in args.first_week.split("-W"))
    mondays = [date.fromisocalendar(year, week, 1) + timedelta(weeks=i) for i in range(args.weeks)]
    people, absent = enrol(args, mondays)
    mean_s = args.operator_share * args.operator_seconds + (1 - args.operator_share) * (
        args.automatic_seconds
    )
    print(
        f"Teleassistance pacing: {len(people)} citizens, {args.channels} channels, "
        f"{args.operators} operators, calling {pacing.calling_start:%H:%M}-"
        f"{pacing.calling_end:%H:%M}, {args.attempts} attempts {args.retry_minutes} min apart, "
        f"plan keeps {args.retry_reserve:.0%} for retries, {args.operator_share:.0%} operator "
        f"calls of {args.operator_seconds} s, automatic {args.automatic_seconds} s, misses "
        f"{args.missed_seconds} s (seed {args.seed})"
    )
    print()
    for answered in answer_rates:
        run_weeks(args, people, absent, mondays, calendar, pacing, answered, split)

    print(
        f"== {args.day_calls} calls a day in {args.hours:g} h on {args.channels} channels "
        f"({args.operators} operators) =="
    )
    for answered in answer_rates:
        miss_rate = 1 - answered
        fit = calls_fitting(
            args.hours, args.channels, mean_s, miss_rate, args.attempts, args.missed_seconds
        )
        planned, unfitted, d = one_busy_day(args, calendar, pacing, answered, split)
        print(
            f"answer rate {answered:.0%}: channel time for {fit} courtesy calls "
            f"({fit / args.day_calls:.2f}x {args.day_calls}; mean call {mean_s:.0f} s, retry "
            f"load {retry_load(miss_rate, args.attempts):.2f} per citizen)"
        )
        print(
            f"  {args.day_calls} on one day by the rules: {planned} planned, {unfitted} not "
            f"fitted; {d.attempts} attempts, {d.answered} answered, {d.missed} missed, busiest "
            f"minute {d.peak_channels}/{args.channels} channels {d.peak_operators}/"
            f"{args.operators} operators, last attempt ends {d.last_end:%H:%M} "
            f"(calling ends {pacing.calling_end:%H:%M}), channels used "
            f"{d.used / max(1, d.open_minutes * args.channels):.0%}, retries without a channel "
            f"{d.reasons['no_free_channel']}: "
            f"{'fits' if planned == args.day_calls and d.fits else 'does not fit'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

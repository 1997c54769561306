"""Teleassistance pacing: do a week of courtesy calls fit the calling hours on the channels?

    python bench/teleassistance_pacing.py [--citizens 5000] [--channels 10] [--operators 4]
        [--hours 4] [--weeks 3] [--first-week 2026-W15] [--seed 13] [--operator-share 0.3]
        [--answered 0.8 --no-answer 0.1 --busy 0.05 --machine 0.05] [--absent-share 0.002]

Issue 13's question: ~700 courtesy calls a day in a 4-hour window on 10 outbound channels.
Seeded random citizens (1-3 preferred days, a window within or around the morning, a share of
operator calls, some suspended for a week, a few away without telling anyone who never answer)
go through :mod:`ivr.teleassistance.schedule` exactly as the dialer would: ``plan_week`` for each
week on the city's calendar (the example dialplan's: the default weeks hold Easter Monday and
25 April), then each day's attempts in time order, every outcome drawn at the given rates, a
miss holding its channel for ``--missed-seconds`` and retried through ``next_attempt`` on the
day's occupancy; the weeks' outcomes feed ``raises_alarm``. Also ``calls_fitting``'s figure for
the same mix. Figures, never pass/fail; nothing is written anywhere (``bench/isolation.py``).
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
from datetime import date, time, timedelta
from pathlib import Path

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
    Retry,
    WeekMissed,
    WeekOutcome,
    book_for,
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
    parser.add_argument("--answered", type=float, default=0.8)
    parser.add_argument("--no-answer", type=float, default=0.1)
    parser.add_argument("--busy", type=float, default=0.05)
    parser.add_argument("--machine", type=float, default=0.05)
    parser.add_argument("--suspended-share", type=float, default=0.02, help="per citizen-week")
    parser.add_argument("--absent-share", type=float, default=0.002, help="never answer")
    parser.add_argument("--afternoon-share", type=float, default=0.002, help="window 15-18")
    parser.add_argument("--dialplan", default=str(ROOT / "dialplans" / "example-city.yaml"))
    args = parser.parse_args(argv)
    isolate("teleassistance_pacing")

    from ivr.flow.loader import load_dialplan

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
    kinds = {p.citizen_id: p.kind for p in people}
    rates = [args.answered, args.no_answer, args.busy, args.machine]
    rates.append(max(0.0, 1 - sum(rates)))
    outcomes = list(Outcome)  # answered, no answer, busy, machine, failed
    rng = random.Random(args.seed + 1)
    missed_minutes = max(1, math.ceil(args.missed_seconds / 60))

    miss_rate = 1 - args.answered
    mean_s = args.operator_share * args.operator_seconds + (1 - args.operator_share) * (
        args.automatic_seconds
    )
    fit = calls_fitting(
        args.hours, args.channels, mean_s, miss_rate, args.attempts, args.missed_seconds
    )
    print(
        f"Teleassistance pacing: {len(people)} citizens, {args.channels} channels, "
        f"{args.operators} operators, calling {pacing.calling_start:%H:%M}-"
        f"{pacing.calling_end:%H:%M}, {args.attempts} attempts {args.retry_minutes} min apart, "
        f"plan keeps {args.retry_reserve:.0%} for retries (seed {args.seed})"
    )
    print(
        f"capacity: {fit} courtesy calls in {args.hours:g} h on {args.channels} channels "
        f"(mean call {mean_s:.0f} s, misses {args.missed_seconds} s, "
        f"retry load {retry_load(miss_rate, args.attempts):.2f} per citizen)"
    )
    print(
        f"700 calls a day in {args.hours:g} h on {args.channels} channels: "
        f"{'fits' if fit >= 700 else 'does not fit'} ({fit / 700:.2f}x)"
    )
    print()

    history: dict[int, list[WeekOutcome]] = {p.citizen_id: [] for p in people}
    alarms = 0
    per_hour: Counter = Counter()
    calling_days = 0
    print(
        "day          calls attempts answered missed peak-ch peak-op  "
        "(missed: exhausted/window/no channel)"
    )
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
            calls = by_day[day]
            calling_days += 1
            book = book_for(day, calls, pacing, calendar)
            queue = [(c.start, c.citizen_id, c, []) for c in calls]
            heapq.heapify(queue)
            reasons: Counter = Counter()
            attempts_n = answered = 0
            while queue:
                at, cid, call, attempts = heapq.heappop(queue)
                drawn = rng.choices(outcomes, rates)[0]  # drawn for everyone: same stream
                outcome = Outcome.NO_ANSWER if cid in absent else drawn
                attempts_n += 1
                per_hour[at.hour] += 1
                if outcome is not Outcome.ANSWERED and call.minutes > missed_minutes:
                    book.release(
                        book.index(at) + missed_minutes, call.minutes - missed_minutes, call.kind
                    )
                attempts.append(Attempt(at, outcome))
                step = next_attempt(call, attempts, pacing, book)
                if isinstance(step, Retry):
                    book.take(book.index(step.at), call.minutes, kinds[cid])
                    heapq.heappush(queue, (step.at, cid, call, attempts))
                    continue
                if isinstance(step, WeekMissed):
                    reasons[step.reason] += 1
                else:
                    answered += 1
                this_week[cid] = week_outcome(attempts)
            print(
                f"{day} {day:%a} {len(calls):5d} {attempts_n:8d} {answered:8d} "
                f"{sum(reasons.values()):6d} {max(book.channels):4d}/{pacing.channels:<2d} "
                f"{max(book.operators):4d}/{pacing.operators:<2d}  "
                f"({reasons['attempts_exhausted']}/{reasons['window_over']}/"
                f"{reasons['no_free_channel']})"
            )
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
        print()

    print(
        "calls per hour (attempts started, mean per calling day): "
        + ", ".join(f"{h:02d}h {n / calling_days:.0f}" for h, n in sorted(per_hour.items()))
    )
    print(
        f"alarms: {alarms} in {args.weeks} weeks "
        f"({len(absent)} citizens away without telling, who never answer)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

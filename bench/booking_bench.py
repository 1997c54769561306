"""Bookings per second and latency on SQLite and PostgreSQL, at 1, 10 and 100 concurrent callers.

    python bench/booking_bench.py [--seconds 5] [--callers 1,10,100] [--backends sqlite,postgresql]
                                  [--time-limit 300]

Each caller is a thread doing what a call does: ask for the first three free slots of a service,
pick one, book it through :class:`booking.service.BookingService` (conditional UPDATE, booking
row and outbox SMS in one transaction). Everyone wants the earliest times, so callers collide on
the same rows as on a Monday morning; a caller beaten to the last place gets ``slot_full`` and
that counts as a call, not a booking. Latency is the ``book`` call alone (what the caller waits
for after pressing 1), p50 and p99.

SQLite is a WAL file (synchronous=NORMAL) in the bench's temporary city (``bench/isolation.py``,
never the city's database); PostgreSQL a private cluster
from Debian's binaries (ivr/devenv/postgres.py: fsync off, like the tests; a production server
with fsync on adds a disk flush to every commit). Figures, never pass/fail; every cell stops after
``--seconds`` and the whole run after ``--time-limit``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import Session  # noqa: E402

from bench.isolation import isolate  # noqa: E402
from booking.models import Office, Service, Slot  # noqa: E402
from booking.service import BookingError, BookingService  # noqa: E402
from ivr.db import make_engine, ready  # noqa: E402
from ivr.flow.model import CityCalendar  # noqa: E402

NOW = datetime(2026, 11, 23, 8, 0)  # a Monday morning; the clock stays there
SLOTS, CAPACITY = 400, 100  # 40,000 places: no cell runs out


@dataclass
class Cell:
    backend: str
    callers: int
    seconds: float = 0.0
    booked: int = 0
    full: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.booked / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1] * 1000


def prepare(url: str) -> None:
    with Session(ready(url)) as s, s.begin():
        service = Service(
            id="carta_identita",
            name_it="Carta d'identità elettronica",
            name_en="Electronic identity card",
            duration_min=20,
            max_active_per_caller=1,
        )
        office = Office(
            id="anagrafe_centrale",
            name="Anagrafe Centrale",
            address="Via Larga 12",
            desk="Sportelli 1-8",
            email=None,
        )
        office.services = [service]
        s.add_all([service, office])
        s.flush()
        first = NOW + timedelta(hours=1)
        s.add_all(
            Slot(
                office_id=office.id,
                service_id=service.id,
                day=(first + timedelta(minutes=20 * i)).date(),
                starts_at=first + timedelta(minutes=20 * i),
                ends_at=first + timedelta(minutes=20 * (i + 1)),
                capacity=CAPACITY,
                booked=0,
                closed=False,
            )
            for i in range(SLOTS)
        )


def run_cell(url: str, backend: str, callers: int, seconds: float) -> Cell:
    # A private engine with a pool sized for this cell's callers: the bench measures the
    # service, not waits for a connection of the shared engine (ivr.db.engine_for).
    engine = make_engine(url, pool_size=max(callers, 5), max_overflow=10)
    service = BookingService(engine, CityCalendar(), lambda: NOW)
    cell = Cell(backend, callers)
    lock = threading.Lock()
    barrier = threading.Barrier(callers + 1)
    deadline = [0.0]

    def caller(n: int) -> None:
        rng = random.Random(n)
        mine: list[float] = []
        booked = full = errors = 0
        barrier.wait()
        i = 0
        while time.perf_counter() < deadline[0]:
            i += 1
            offer = service.available_slots("carta_identita", 3)
            if not offer:
                break
            slot = rng.choice(offer)
            started = time.perf_counter()
            try:
                service.book("carta_identita", slot.id, f"3{n:03d}{i:06d}", "it")
                booked += 1
            except BookingError as err:
                if err.code != "slot_full":
                    errors += 1
                else:
                    full += 1
            except Exception:  # a bench reports, never stops on one bad call
                errors += 1
            mine.append(time.perf_counter() - started)
        with lock:
            cell.latencies += mine
            cell.booked += booked
            cell.full += full
            cell.errors += errors

    threads = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(callers)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for t in threads:
        t.join(seconds + 60)
    cell.seconds = time.perf_counter() - start
    engine.dispose()
    return cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each cell")
    parser.add_argument("--callers", default="1,10,100")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--time-limit", type=float, default=300.0, help="stop the whole run")
    args = parser.parse_args(argv)
    workdir = isolate("booking_bench").var_dir  # SQLite files here, never the city's database
    callers = [int(c) for c in args.callers.split(",")]
    backends = args.backends.split(",")
    began = time.monotonic()

    server = None
    cells: list[Cell] = []
    try:
        for backend in backends:
            for count in callers:
                if time.monotonic() - began + args.seconds > args.time_limit:
                    print(f"time limit reached, skipping {backend} x{count}", file=sys.stderr)
                    continue
                name = f"bench_{backend}_{count}"
                if backend == "sqlite":
                    url = f"sqlite:///{workdir / (name + '.db')}"
                else:
                    if server is None:
                        from ivr.devenv.postgres import PostgresServer

                        pg_dir = Path(tempfile.mkdtemp(prefix="nu-pg-bench-"))
                        server = PostgresServer(pg_dir).start()
                    url = server.create_database(name)
                prepare(url)
                cell = run_cell(url, backend, count, args.seconds)
                cells.append(cell)
                print(
                    f"  {backend} x{count}: {cell.booked} bookings in {cell.seconds:.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)

    print()
    print(
        f"{'backend':<11} {'callers':>7} {'bookings/s':>11} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'booked':>7} {'full':>6} {'errors':>6}"
    )
    for c in cells:
        print(
            f"{c.backend:<11} {c.callers:>7} {c.rate:>11.1f} {c.pct(50):>8.1f} {c.pct(99):>8.1f}"
            f" {c.booked:>7} {c.full:>6} {c.errors:>6}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

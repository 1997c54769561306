"""Time `ivr prompts build` on the example city: a full build, a no-op and a one-prompt rebuild.

    python bench/prompts_build.py [--workers N] [--rounds N]

Works in a temporary folder (copies of prompts/, sounds written there); prints seconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.flow.loader import load_dialplan  # noqa: E402
from ivr.prompts.build import build_prompts  # noqa: E402


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def one_round(workers: int | None) -> dict[str, float]:
    dialplan = load_dialplan(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
    with tempfile.TemporaryDirectory(prefix="nu-bench-") as tmp:
        prompts, sounds = Path(tmp) / "prompts", Path(tmp) / "sounds"
        shutil.copytree(ROOT / "prompts", prompts)

        def build():
            return build_prompts(dialplan, prompts, sounds, workers=workers)

        full, report = timed(build)
        assert not report.failed and not report.unchanged, report.failed
        noop, report = timed(build)
        assert not report.built, report.built
        en = prompts / "en.yaml"
        en.write_text(
            en.read_text(encoding="utf-8").replace(
                "Thank you for calling. Goodbye.", "Thank you for calling the city. Goodbye."
            ),
            encoding="utf-8",
        )
        one, report = timed(build)
        assert report.built == ["en/goodbye"], report.built
        return {"prompts": len(report.unchanged) + 1, "full": full, "noop": noop, "one": one}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="default: min(2, cores)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.workers) for _ in range(args.rounds)]
    print(f"example city: {rounds[0]['prompts']:.0f} prompts, {args.rounds} rounds (median)")
    for label, key in (
        ("full build", "full"),
        ("no-op rebuild", "noop"),
        ("one-prompt rebuild", "one"),
    ):
        values = [r[key] for r in rounds]
        print(f"  {label:<20} {statistics.median(values):7.3f} s  (min {min(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time `ivr prompts build` on the example city's seven-language catalogue, offline (espeak-ng).

    python bench/prompts_build.py [--workers N] [--rounds N] [--languages en,zh] [--prompts N]

Each round, in a temporary folder (copies of prompts/, sounds written there, inside the bench's
temporary city: ``bench/isolation.py``, never the city's sounds): a full build from nothing, a
no-op rebuild, a one-prompt rebuild after changing one English text, and one after changing one
Chinese text (each when that language is built; ``--languages`` builds only some, for a quick
run; ``--prompts N`` keeps only N hand-written texts per language, ``goodbye`` among them, for a
quicker one: tests/test_bench_isolation.py). Prints the catalogue's size and the median seconds;
figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402
from ivr.flow.loader import load_dialplan  # noqa: E402
from ivr.prompts.build import FORMATS, build_prompts  # noqa: E402


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def keep_only(prompts: Path, count: int) -> None:
    """Cut each ``<lang>.yaml`` copy down to ``count`` texts, ``goodbye`` first (the one-prompt
    rebuilds change it). The generated texts (opening hours, sayings) stay: the dialplan's."""
    for path in prompts.glob("*.yaml"):
        texts = yaml.safe_load(path.read_text(encoding="utf-8"))
        keys = ["goodbye", *(key for key in texts if key != "goodbye")][:count]
        kept = {key: texts[key] for key in keys}
        path.write_text(
            yaml.safe_dump(kept, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8"
        )


def one_round(
    workers: int | None, languages: list[str] | None, work: Path, count: int | None = None
) -> dict:
    dialplan = load_dialplan(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
    with tempfile.TemporaryDirectory(prefix="nu-bench-", dir=work) as tmp:
        prompts, sounds = Path(tmp) / "prompts", Path(tmp) / "sounds"
        shutil.copytree(ROOT / "prompts", prompts)
        if count is not None:
            keep_only(prompts, count)

        def build():
            return build_prompts(dialplan, prompts, sounds, languages=languages, workers=workers)

        full, report = timed(build)
        assert not report.failed and not report.unchanged, report.failed
        per_language = Counter(name.split("/")[0] for name in report.built)
        files = sum(1 for p in sounds.rglob("*") if p.suffix in (".wav", ".wav16"))
        noop, report = timed(build)
        assert not report.built, report.built
        one_en = one_zh = None
        if "en" in per_language:
            replace_text(
                prompts / "en.yaml",
                "Thank you for calling. Goodbye.",
                "Thank you for calling the city. Goodbye.",
            )
            one_en, report = timed(build)
            assert report.built == ["en/goodbye"], report.built
        if "zh" in per_language:
            replace_text(prompts / "zh.yaml", "感谢您的来电，再见。", "谢谢您的来电，再见。")
            one_zh, report = timed(build)
            assert report.built == ["zh/goodbye"], report.built
        manifest = json.loads((sounds / "manifest.json").read_text(encoding="utf-8"))
        audio = sum(e["seconds"] for e in manifest["formats"]["wav"].values())
        return {
            "prompts": sum(per_language.values()),
            "per_language": dict(per_language),
            "files": files,
            "audio": audio,
            "full": full,
            "noop": noop,
            "one_en": one_en,
            "one_zh": one_zh,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="default: min(2, cores)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--languages", default=None, help="only these, comma-separated (default: the dialplan's)"
    )
    parser.add_argument(
        "--prompts",
        type=int,
        default=None,
        help="only this many hand-written texts per language, goodbye first (default: all)",
    )
    args = parser.parse_args()
    if args.prompts is not None and args.prompts < 1:
        parser.error("--prompts: at least 1 (goodbye)")
    work = isolate("prompts_build").var_dir  # audio written here, never the city's sounds
    languages = args.languages.split(",") if args.languages else None
    rounds = [one_round(args.workers, languages, work, args.prompts) for _ in range(args.rounds)]
    first = rounds[0]
    langs = ", ".join(f"{lang} {n}" for lang, n in first["per_language"].items())
    formats = " + ".join(f".{f.ext} ({f.rate} Hz)" for f in FORMATS)
    sample = "" if args.prompts is None else f" ({args.prompts} hand-written per language)"
    print(
        f"example city{sample}: {first['prompts']} prompts ({langs}), {first['files']} files "
        f"{formats}, {first['audio'] / 60:.1f} min of audio; {args.rounds} round(s), median"
    )
    for label, key in (
        ("full build", "full"),
        ("no-op rebuild", "noop"),
        ("one prompt (en)", "one_en"),
        ("one prompt (zh)", "one_zh"),
    ):
        values = [r[key] for r in rounds if r[key] is not None]
        if not values:  # that language wasn't built (--languages)
            continue
        print(f"  {label:<20} {statistics.median(values):7.3f} s  (min {min(values):.3f})")
    full = statistics.median(r["full"] for r in rounds)
    print(f"  per prompt (full)    {1000 * full / first['prompts']:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

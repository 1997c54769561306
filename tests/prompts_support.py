"""A small city for tests that build prompt audio: the example city's real texts, few prompts.

Building the example city's whole catalogue (seven languages, about 1,210 prompts, espeak-ng and
sox for each) takes minutes on a busy two-core machine, and a test about how the build works
(which voice, what is asked, what falls back, what gets installed) learns nothing more from the
1,200th prompt than from the 10th. :func:`small_city` writes a city that greets, offers a menu
and transfers to its operator, with the prompts it plays (the engine's own included) copied from
``prompts/<lang>.yaml``: about ten prompts per language, every one of them in use, so
``report.ok`` and ``ivr prompts check`` mean what they mean for a real city.

Use it in languages whose numbers Asterisk says itself (it, en, fr, es): for de, zh and ar the
catalogue adds the sayings' vocabulary (over 200 prompts each), whatever the dialplan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ivr import config
from ivr.flow.loader import load_dialplan
from ivr.flow.model import Dialplan, hours_prompt
from ivr.flow.validate import prompt_usage
from ivr.prompts.catalogue import full_catalogue

EXAMPLE = config.ROOT / "dialplans" / "example-city.yaml"
EXAMPLE_LANGUAGES = ("it", "en", "fr", "es", "de", "zh", "ar")


def example_text(languages: tuple[str, ...]) -> str:
    """The example city's YAML offering only ``languages`` (its language menu renumbered)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace(
        f"languages: [{', '.join(EXAMPLE_LANGUAGES)}]", f"languages: [{', '.join(languages)}]"
    )
    offered = iter(range(1, len(languages) + 1))

    def option(match: re.Match[str]) -> str:
        lang = match.group(2)
        return f'{match.group(1)}"{next(offered)}": {lang}\n' if lang in languages else ""

    pattern = r'^( +)"[1-7]": (' + "|".join(EXAMPLE_LANGUAGES) + r")\n"
    return re.sub(pattern, option, text, flags=re.M)


OPERATOR = {"it": "Operatore", "en": "Operator", "fr": "Opérateur", "es": "Operador"}


@dataclass(frozen=True)
class SmallCity:
    path: Path  # the dialplan file
    prompts: Path  # its prompts folder: <lang>.yaml with only the texts it plays
    dialplan: Dialplan

    def texts(self, lang: str) -> dict[str, str]:
        """What the build speaks in ``lang``: the copied texts and the generated hours."""
        return full_catalogue(self.dialplan, self.prompts)[lang]


def small_city(folder: Path, languages: tuple[str, ...] = ("it", "en", "fr", "es")) -> SmallCity:
    """Write ``small-city.yaml`` and ``prompts/`` into ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ", ".join(f"{lang}: {OPERATOR[lang]}" for lang in languages)
    path = folder / "small-city.yaml"
    path.write_text(
        f"""\
city: Comune Piccolo
number: "0101"
languages: [{", ".join(languages)}]
general_operator: op
departments:
  op: {{names: {{{names}}}, hours: always}}
start: benvenuto
nodes:
  benvenuto: {{type: play, prompts: [welcome], next: principale}}
  principale: {{type: menu, prompt: main_menu, options: {{"9": op}}}}
  op: {{type: transfer, department: op}}
""",
        encoding="utf-8",
    )
    prompts = folder / "prompts"
    prompts.mkdir(exist_ok=True)
    dialplan = load_dialplan(path)
    generated = {hours_prompt(d) for d in dialplan.departments}
    for lang, used in prompt_usage(dialplan).items():
        source = config.ROOT / "prompts" / f"{lang}.yaml"
        every = yaml.safe_load(source.read_text(encoding="utf-8"))
        kept = {key: every[key] for key in sorted(used) if key not in generated}
        (prompts / f"{lang}.yaml").write_text(
            yaml.safe_dump(kept, allow_unicode=True, sort_keys=False, width=1000),
            encoding="utf-8",
        )
    return SmallCity(path, prompts, load_dialplan(path, prompts))

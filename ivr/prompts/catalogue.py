"""The prompt catalogue: each prompt's text per language.

Two sources, one lookup: hand-written texts in ``prompts/<lang>.yaml`` and texts generated from
the dialplan (each department's opening hours), so the hours callers hear can never drift from
the hours the engine applies.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ivr.flow.model import Department, Dialplan, hours_prompt
from ivr.prompts.hours_text import describe_hours

Catalogue = dict[str, dict[str, str]]  # language -> key -> text


def load_texts(prompts_dir: str | Path) -> Catalogue:
    """Read every ``<lang>.yaml`` in the folder. Raises ValueError naming a malformed file."""
    result: Catalogue = {}
    for path in sorted(Path(prompts_dir).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ValueError(f"{path}: expected 'key: text' lines")
        result[path.stem] = {k: " ".join(v.split()) for k, v in data.items()}
    return result


def generated_texts(dialplan: Dialplan) -> Catalogue:
    """Texts derived from the dialplan itself: each department's opening hours."""
    result: Catalogue = {}
    for lang in dialplan.languages:
        texts = result.setdefault(lang, {})
        for dept in dialplan.departments.values():
            text = _hours_text(dept, lang)
            if text:
                texts[hours_prompt(dept.id)] = text
    return result


def _hours_text(dept: Department, lang: str) -> str | None:
    name = dept.names.get(lang)
    if name is None:
        return None
    return describe_hours(name, dept.hours, lang)


def full_catalogue(dialplan: Dialplan, prompts_dir: str | Path) -> Catalogue:
    """Hand-written texts overlaid with generated ones, for every language of the dialplan."""
    result = load_texts(prompts_dir)
    for lang, texts in generated_texts(dialplan).items():
        result.setdefault(lang, {}).update(texts)
    return result

"""Prompt texts as the admin shows and edits them: ``prompts/<lang>.yaml``, side by side.

The files stay the single source (the FastAGI service, ``ivr dialplan check`` and
``ivr prompts build`` read them); edits go through ruamel.yaml's round trip so the comments and
the order of the file survive, and each file is replaced atomically. Generated texts (opening
hours, ``hours_<department>``) are shown but not editable: they come from the dialplan.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from ivr.admin.publish import write_atomic
from ivr.flow.model import Dialplan, LanguageNode, engine_prompts
from ivr.flow.validate import reachable_nodes
from ivr.prompts.catalogue import generated_texts, load_texts

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
LANG = re.compile(r"^[a-z]{2}$")
MAX_TEXT = 1000


class PromptError(ValueError):
    pass


@dataclass
class Row:
    key: str
    texts: dict[str, str | None]  # language -> text (None: none)
    needed: set[str]  # languages in which a reachable node or the engine plays it
    generated: bool

    def missing(self, lang: str) -> bool:
        return lang in self.needed and not self.texts.get(lang)


def needed_keys(dialplan: Dialplan) -> dict[str, set[str]]:
    """key -> languages where the call flow can play it (engine prompts, reachable nodes)."""
    needed: dict[str, set[str]] = {k: set(dialplan.languages) for k in engine_prompts(dialplan)}
    for node_id in reachable_nodes(dialplan):
        node = dialplan.nodes[node_id]
        langs = (
            set(node.options.values())
            if isinstance(node, LanguageNode)
            else set(dialplan.languages)
        )
        for key in node.prompt_keys():
            needed.setdefault(key, set()).update(langs)
    return needed


def table(dialplan: Dialplan | None, prompts_dir: Path, languages: list[str]) -> list[Row]:
    texts = load_texts(prompts_dir)
    generated = generated_texts(dialplan) if dialplan else {}
    needed = needed_keys(dialplan) if dialplan else {}
    keys = set(needed)
    for lang in languages:
        keys.update(texts.get(lang, {}))
        keys.update(generated.get(lang, {}))
    rows = []
    for key in sorted(keys):
        is_generated = any(key in generated.get(lang, {}) for lang in languages)
        row_texts = {
            lang: generated.get(lang, {}).get(key) or texts.get(lang, {}).get(key)
            for lang in languages
        }
        rows.append(Row(key, row_texts, needed.get(key, set()), is_generated))
    return rows


def clean(text: str) -> str:
    """One line of speakable text: control characters become spaces, runs of spaces fold."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    return " ".join(text.split())


def set_texts(prompts_dir: Path, key: str, texts: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Write ``key``'s text in each language (empty: remove). Returns lang -> (before, after)."""
    if not KEY.match(key):
        raise PromptError("prompt keys are a-z, 0-9, '_' or '-' (max 80), like main_menu")
    if key.startswith("hours_"):
        raise PromptError("opening-hours prompts are generated from the department's hours")
    changes: dict[str, tuple[str, str]] = {}
    y = YAML(typ="rt")
    y.width = 100
    y.preserve_quotes = True
    for lang, raw in texts.items():
        if not LANG.match(lang):
            raise PromptError(f"'{lang}' is not a language code")
        if len(raw) > MAX_TEXT:
            raise PromptError(f"the {lang} text is longer than {MAX_TEXT} characters")
        text = clean(raw)
        path = Path(prompts_dir) / f"{lang}.yaml"
        doc = y.load(path.read_text(encoding="utf-8")) if path.exists() else None
        if doc is None:
            doc = CommentedMap()
        old = " ".join(str(doc.get(key, "")).split())
        if old == text:
            continue
        if text:
            doc[key] = text
        elif key in doc:
            del doc[key]
        out = io.StringIO()
        y.dump(doc, out)
        write_atomic(path, out.getvalue().encode("utf-8"))
        changes[lang] = (old, text)
    return changes

"""``ivr speech serve``: load the configured models once, check them against the dialplan's
speech nodes, then serve recognition on the loopback port (see recognizer.py)."""

from __future__ import annotations

from pathlib import Path

from ivr.flow.model import Dialplan
from ivr.processes import EXIT_CONFIG
from ivr.speech.node import SpeechNode
from ivr.speech.recognizer import (
    SpeechServer,
    check_model_files,
    load_model,
    missing_words,
)


def parse_models(spec: str) -> dict[str, Path]:
    """``"it=/a,en=/b"`` -> {"it": Path("/a"), "en": Path("/b")}."""
    models: dict[str, Path] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        lang, _, path = item.partition("=")
        if not path:
            raise ValueError(f"NU_SPEECH_MODELS: {item!r} is not lang=/path")
        models[lang.strip()] = Path(path.strip())
    return models


def check(models: dict[str, object], dialplan: Dialplan) -> list[str]:
    """Problems to report at start-up: a speech language without a model, grammar words the
    model does not know (vosk would silently ignore them, so those phrases could never match)."""
    problems = []
    for node in dialplan.nodes.values():
        if not isinstance(node, SpeechNode):
            continue
        for lang in node.intents.by_language:
            model = models.get(lang)
            if model is None:
                problems.append(f"speech node '{node.id}': no model configured for '{lang}'")
                continue
            missing = missing_words(model, node.intents.vocabulary(lang))
            if missing:
                problems.append(
                    f"speech node '{node.id}' ({lang}): not in the model's vocabulary: "
                    + ", ".join(missing)
                )
    return problems


def load_all(paths: dict[str, Path]) -> tuple[dict[str, object], list[str]]:
    """Load each model once; a broken one is reported and left out (the others still serve)."""
    models, problems = {}, []
    for lang, path in paths.items():
        missing = check_model_files(path)
        if missing:
            problems.append(f"model '{lang}': " + "; ".join(missing))
            continue
        models[lang] = load_model(path)
    return models, problems


def serve(spec: str, port: int, dialplan: Dialplan | None) -> int:
    models, problems = load_all(parse_models(spec))
    if dialplan is not None:
        problems += check(models, dialplan)
    for problem in problems:
        print(f"speech: {problem}")
    if not models:
        print("speech: no usable model (set NU_SPEECH_MODELS)")
        return EXIT_CONFIG  # restarting cannot help: the supervisor leaves it stopped
    print(f"speech: serving {', '.join(sorted(models))} on 127.0.0.1:{port}")
    SpeechServer(("127.0.0.1", port), models).serve_forever()
    return 0

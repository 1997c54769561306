"""After the directory changed: speak the new names, and give Asterisk the staff phones.

Both steps are idempotent (only what changed is built or written), so every front end (the
admin, ``ivr directory import``) simply calls :func:`apply_directory` after a change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.asterisk.ami import AMIClient
from ivr.directory.audio import build_directory_audio
from ivr.directory.phones import publish_phones
from ivr.directory.store import DirectoryStore
from ivr.prompts.build import Synthesizer

log = logging.getLogger("ivr.directory")


@dataclass(frozen=True)
class Applied:
    ok: bool
    message: str


def apply_directory(
    store: DirectoryStore,
    dialplan: Any,
    sounds_dir: str | Path,
    *,
    etc_dir: str | Path | None = None,
    ami: Callable[[], AMIClient] | None = None,
    sync_sounds: Callable[[], object] | None = None,
    synthesizer: Synthesizer | None = None,
) -> Applied:
    """Build the names' audio (then ``sync_sounds``), write and reload the staff phones."""
    report = build_directory_audio(store.entries(), dialplan, sounds_dir, synthesizer=synthesizer)
    parts = [f"names audio: {report.summary()}"]
    ok = not report.failed
    if sync_sounds is not None and (report.built or report.removed):
        sync_sounds()
    if etc_dir is not None:
        try:
            parts.append(publish_phones(etc_dir, store.staff_phones(), ami))
        except (RuntimeError, ValueError, OSError) as err:
            ok = False
            parts.append(str(err))
    for failed, why in report.failed.items():
        log.warning("directory audio %s: %s", failed, why)
    return Applied(ok, "; ".join(parts))

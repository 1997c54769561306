"""Put the built prompt audio where Asterisk reads it, as one swap.

``ivr prompts build`` (and the admin's "build audio") writes into ``Settings.sounds_dir``. When
Asterisk cannot read that folder itself (a chroot, another machine's mount), the tree is copied
to Asterisk's side: ``ivr up`` into its chroot, the admin into ``NU_ASTERISK_SOUNDS_SYNC_DIR``.
No Flask and no development chroot here, so both can use it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ivr.prompts.hold_music import ensure_hold_music

log = logging.getLogger(__name__)


def sync_sounds(source: str | Path, target: str | Path) -> Path:
    """Copy the audio tree ``source`` to ``target``, replacing it as a whole.

    The new tree is built beside the target (``<target>.new``), given the default hold music
    when the city has none, then swapped in by two renames, so a call never sees half a rebuild.
    A missing ``source`` (nothing built yet) leaves a tree with the hold music only.
    """
    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.with_name(target.name + ".new")
    old = target.with_name(target.name + ".old")
    for leftover in (fresh, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    if source.is_dir():
        shutil.copytree(source, fresh, symlinks=False)
    else:
        log.warning("no prompt audio in %s yet: run `ivr prompts build`", source)
        fresh.mkdir()
    ensure_hold_music(fresh)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    if old.exists():
        shutil.rmtree(old)
    return target

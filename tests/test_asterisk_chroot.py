"""The chroot builder's decisions, without running debootstrap (the real build is exercised by
the ``asterisk_session`` fixture on a machine that lacks the chroot)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ivr.devenv import asterisk as devenv


def _fake_build(calls: list[Path]):
    def build(root: Path, suite, mirror, packages) -> None:
        calls.append(root)
        tmp = root.with_name(root.name + ".tmp")
        (tmp / "usr/sbin").mkdir(parents=True)
        (tmp / devenv.MARKER).write_text("built\n")
        tmp.rename(root)

    return build


def test_builds_once_and_reuses(tmp_path, monkeypatch):
    calls: list[Path] = []
    mounted: list[Path] = []
    monkeypatch.setattr(devenv, "_build_chroot", _fake_build(calls))
    monkeypatch.setattr(devenv, "ensure_mounts", mounted.append)
    root = tmp_path / "asterisk-sid"

    assert devenv.ensure_chroot(root) == root
    assert devenv.ensure_chroot(root) == root
    assert calls == [root]
    assert mounted == [root, root]  # /proc and /dev are checked every time
    assert devenv.chroot_complete(root)


def test_concurrent_callers_build_only_once(tmp_path, monkeypatch):
    calls: list[Path] = []
    slow = _fake_build(calls)

    def build(*args):
        threading.Event().wait(0.2)
        slow(*args)

    monkeypatch.setattr(devenv, "_build_chroot", build)
    monkeypatch.setattr(devenv, "ensure_mounts", lambda root: None)
    root = tmp_path / "asterisk-sid"
    threads = [threading.Thread(target=devenv.ensure_chroot, args=(root,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert calls == [root]


def test_a_chroot_made_by_hand_is_adopted(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(devenv, "_build_chroot", _fake_build(calls))
    monkeypatch.setattr(devenv, "ensure_mounts", lambda root: None)
    root = tmp_path / "asterisk-sid"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/asterisk").write_text("")
    (root / "usr/share/asterisk/sounds").mkdir(parents=True)
    (root / "usr/share/asterisk/sounds/it").symlink_to("/etc/alternatives/asterisk-prompt-it")

    devenv.ensure_chroot(root)
    assert calls == []
    assert (root / devenv.MARKER).read_text() == "adopted\n"


def test_remove_tree_never_deletes_through_a_mount(tmp_path, monkeypatch):
    target = tmp_path / "partial"
    (target / "dev").mkdir(parents=True)
    monkeypatch.setattr(devenv, "_mounts_under", lambda path: [str(target / "dev")])
    monkeypatch.setattr(devenv.subprocess, "run", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="still has mounts"):
        devenv._remove_tree(target)
    assert target.exists()


def test_hold_music_is_a_telephone_wav(tmp_path):
    import wave

    path = devenv.write_hold_music(tmp_path / "moh" / "chime.wav", seconds=8)
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() == 8 * 8000

"""The chroot builder's decisions, without running debootstrap (the real build is exercised by
the ``asterisk_session`` fixture on a machine that lacks the chroot)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ivr.devenv import asterisk as devenv
from ivr.prompts.hold_music import write_hold_music


def _fake_build(calls: list[Path]):
    def build(root: Path, suite, mirror, packages) -> None:
        calls.append(root)
        tmp = root.with_name(root.name + ".tmp")
        (tmp / "usr/sbin").mkdir(parents=True)
        (tmp / devenv.MARKER).write_text(f"debootstrap {suite} {' '.join(packages)}\n")
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


def _fake_debootstrap(target: Path, suite, mirror, packages) -> None:
    (target / "usr/sbin").mkdir(parents=True)
    (target / "usr/sbin/asterisk").write_text("")


def test_files_written_before_the_chroot_exists_are_kept(tmp_path, monkeypatch):
    """``ivr up`` and the tests render an instance's configuration, then start it: on a new
    machine that writes into <root>/srv/nu before the chroot is built. The build keeps them."""
    monkeypatch.setattr(devenv, "_debootstrap", _fake_debootstrap)
    monkeypatch.setattr(devenv, "ensure_mounts", lambda root: None)
    root = tmp_path / "asterisk-sid"
    instance = devenv.AsteriskInstance("first", root=root)
    (instance.etc_dir).mkdir(parents=True)
    (instance.etc_dir / "extensions.conf").write_text("; rendered\n")

    devenv.ensure_chroot(root)

    assert devenv.chroot_complete(root)
    assert (root / "usr/sbin/asterisk").is_file()
    assert (instance.etc_dir / "extensions.conf").read_text() == "; rendered\n"
    assert not list(tmp_path.glob("asterisk-sid.broken-*"))  # nothing to set aside


def test_an_incomplete_root_with_other_files_is_set_aside_but_instances_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(devenv, "_debootstrap", _fake_debootstrap)
    monkeypatch.setattr(devenv, "ensure_mounts", lambda root: None)
    root = tmp_path / "asterisk-sid"
    (root / "srv/nu/system/etc").mkdir(parents=True)
    (root / "srv/nu/system/etc/pjsip.conf").write_text("; ours\n")
    (root / "etc").mkdir()
    (root / "etc/half-made").write_text("")

    devenv.ensure_chroot(root)

    assert (root / "srv/nu/system/etc/pjsip.conf").read_text() == "; ours\n"
    (aside,) = tmp_path.glob("asterisk-sid.broken-*")
    assert (aside / "etc/half-made").is_file()
    assert not (aside / "srv/nu/system").exists()


def test_a_chroot_made_by_hand_is_adopted(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(devenv, "_build_chroot", _fake_build(calls))
    monkeypatch.setattr(devenv, "ensure_mounts", lambda root: None)
    root = tmp_path / "asterisk-sid"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/asterisk").write_text("")
    (root / "usr/share/asterisk/sounds").mkdir(parents=True)
    (root / "usr/share/asterisk/sounds/it").symlink_to("/etc/alternatives/asterisk-prompt-it")

    added: list[tuple[str, ...]] = []
    monkeypatch.setattr(devenv, "_add_packages", lambda root, packages: added.append(packages))
    devenv.ensure_chroot(root)
    assert calls == []
    assert (root / devenv.MARKER).read_text() == "adopted\n"
    assert added == [devenv.PACKAGES]  # what it may lack is installed into it


def test_an_older_chroot_gets_the_packages_added_since(tmp_path, monkeypatch):
    """Only what the marker doesn't list and dpkg doesn't know is installed, then listed."""
    root = tmp_path / "asterisk-sid"
    root.mkdir()
    (root / devenv.MARKER).write_text("debootstrap sid asterisk asterisk-core-sounds-it\n")
    monkeypatch.setattr(devenv, "ensure_mounts", lambda root: None)
    commands: list[list[str]] = []

    class Done:
        stdout = "asterisk-core-sounds-en install ok installed\n"

    def run(cmd, **kw):
        commands.append(cmd)
        return Done()

    monkeypatch.setattr(devenv.subprocess, "run", run)
    devenv.ensure_chroot(
        root, packages=("asterisk", "asterisk-core-sounds-en", "asterisk-core-sounds-fr")
    )
    install = [c for c in commands if "install" in c]
    assert install and install[0][-1:] == ["asterisk-core-sounds-fr"]
    assert "asterisk" not in install[0]  # never upgrades the running Asterisk
    assert "asterisk-core-sounds-fr" in (root / devenv.MARKER).read_text()
    commands.clear()
    devenv.ensure_chroot(
        root, packages=("asterisk", "asterisk-core-sounds-en", "asterisk-core-sounds-fr")
    )
    assert commands == []  # listed now: nothing to do


def test_the_cached_chroot_has_the_sounds_asterisk_says_numbers_with():
    """it/en/fr/es numbers and dates are said by Asterisk from its core sounds."""
    root = devenv.ensure_chroot()
    for lang in ("it", "en", "fr", "es"):
        target = (root / "usr/share/asterisk/sounds" / lang).readlink()
        folder = root / str(target).lstrip("/")
        while folder.is_symlink():  # /etc/alternatives/... inside the chroot
            folder = root / str(folder.readlink()).lstrip("/")
        assert sorted(p.name for p in (folder / "digits").glob("3.*")), lang


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

    path = write_hold_music(tmp_path / "moh" / "chime.wav", seconds=8)
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() == 8 * 8000


def test_the_package_cache_keeps_only_what_the_chroot_was_built_from(tmp_path):
    """debootstrap --cache-dir keeps downloads between builds; sid moves on, so after a build
    only the packages that chroot holds stay (an epoch's ':' is '%3a' in a .deb's name)."""
    root = devenv.ensure_chroot()
    cache = tmp_path / "debs"
    cache.mkdir()
    status = (root / "var/lib/dpkg/status").read_text().split("\n\n")
    fields = [dict(line.split(": ", 1) for line in s.splitlines() if ": " in line) for s in status]
    installed = sorted(
        f"{f['Package']}_{f['Version'].replace(':', '%3a')}_{f['Architecture']}.deb"
        for f in fields
        if f.get("Package") in ("asterisk-config", "libc6")
    )
    assert len(installed) == 2 and "%3a" in installed[0]
    stale = ["libc6_1.0-1_amd64.deb", "asterisk-config_1%3a1.0-1_all.deb"]
    for name in [*installed, *stale]:
        (cache / name).write_bytes(b"")
    devenv._prune_deb_cache(cache, root)
    assert sorted(p.name for p in cache.iterdir()) == installed

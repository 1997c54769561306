"""``ivr admin`` without the development chroot: where it publishes (``NU_ASTERISK_ETC`` or
``--asterisk-etc``) and where it copies built prompt audio (``NU_ASTERISK_SOUNDS_SYNC_DIR``) come
from the settings, and the copy replaces Asterisk's folder in one swap."""

from __future__ import annotations

import pytest

from ivr.prompts.deploy import sync_sounds


class Stop:
    """A server that stops at once, as after Ctrl-C."""

    server_port = 8080

    def serve_forever(self):
        raise KeyboardInterrupt


@pytest.fixture
def run_admin(tmp_path, monkeypatch):
    """Run ``ivr admin ARGS`` and return what it built the app with (nothing is served)."""
    import werkzeug.serving

    import ivr.admin.app
    from ivr.cli import main

    built = {}

    def create_app(settings, **kw):
        built.update(kw, settings=settings)
        return object()

    monkeypatch.setattr(ivr.admin.app, "create_app", create_app)
    monkeypatch.setattr(werkzeug.serving, "make_server", lambda *a, **kw: Stop())
    monkeypatch.setenv("NU_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NU_SOUNDS_DIR", str(tmp_path / "sounds"))
    for name in (
        "NU_ASTERISK_ETC",
        "NU_ASTERISK_NODES",
        "NU_ASTERISK_SOUNDS_SYNC_DIR",
        "NU_LOG_FILE",
    ):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, **env: str) -> dict:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        built.clear()
        assert main(["admin", *args]) == 0
        return dict(built)

    return run


def test_publish_target_and_prompt_copy_come_from_the_settings(run_admin, tmp_path):
    built = run_admin()
    assert built["target"] is None and built["sync_sounds"] is None  # files only, no copy

    etc, chroot_sounds = tmp_path / "etc", tmp_path / "chroot" / "sounds"
    built = run_admin(NU_ASTERISK_ETC=str(etc), NU_ASTERISK_SOUNDS_SYNC_DIR=str(chroot_sounds))
    assert built["target"].etc_dir == etc and built["target"].ami is not None
    (tmp_path / "sounds" / "it").mkdir(parents=True)
    (tmp_path / "sounds" / "it" / "welcome.wav").write_bytes(b"RIFF")
    built["sync_sounds"]()
    assert (chroot_sounds / "it" / "welcome.wav").read_bytes() == b"RIFF"

    other = tmp_path / "other-etc"
    assert run_admin("--asterisk-etc", str(other))["target"].etc_dir == other

    nodes = run_admin(NU_ASTERISK_NODES=f"a={tmp_path / 'a'},b={tmp_path / 'b'}")["target"]
    assert [(t.label, t.etc_dir) for t in nodes] == [("a", tmp_path / "a"), ("b", tmp_path / "b")]


def test_sync_sounds_replaces_the_whole_tree_and_adds_hold_music(tmp_path):
    source, target = tmp_path / "built", tmp_path / "asterisk" / "sounds"
    (source / "it").mkdir(parents=True)
    (source / "it" / "welcome.wav").write_bytes(b"new")
    (target / "it").mkdir(parents=True)
    (target / "it" / "removed_prompt.wav").write_bytes(b"old")
    for leftover in ("sounds.new", "sounds.old"):  # an interrupted earlier copy
        (target.parent / leftover).mkdir()

    assert sync_sounds(source, target) == target
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*.wav")) == [
        "it/welcome.wav",
        "moh/chime.wav",
    ]
    assert sorted(p.name for p in target.parent.iterdir()) == ["sounds"]
    # Nothing built yet: Asterisk still gets a folder with hold music.
    sync_sounds(tmp_path / "nothing", target)
    assert [p.name for p in target.iterdir()] == ["moh"]

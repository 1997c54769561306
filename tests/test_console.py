"""``ivr call``: the console phone against a real FastAGI server, scripted and interactive."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from ivr.agi.runner import make_handler
from ivr.agi.server import FastAGIServer
from ivr.config import Settings
from ivr.console import ConsoleCaller, parse_keys, prompt_texts, run_console, split_prompt
from ivr.flow.actions import Hangup, Prompt
from ivr.service import city_handler
from tests.agi_support import FakeSession

ROOT = Path(__file__).resolve().parent.parent
CITY, _ = city_handler(
    Settings(
        redis_url="",
        dialplan_path=ROOT / "dialplans" / "example-city.yaml",
        asterisk_sounds_dir="/snd",
        # these calls' bookings and call records: never the developer's database
        database_url=f"sqlite:///{tempfile.mkdtemp(prefix='nu-console-test-')}/city.db",
    )
)


def test_scripted_call_shows_prompt_texts_and_where_it_ended():
    out: list[str] = []
    with FastAGIServer(CITY, port=0) as server:
        host, port = server.address
        settings = Settings(agi_host=host, agi_port=port)
        code = run_console(settings, keys="1,9", write=out.append)
    text = "\n".join(out)
    assert code == 0
    assert "[it] choose_language: Benvenuto nel numero unico del Comune" in text
    assert "[en] choose_language: For English, press 2." in text
    assert "[it] welcome: Comune di Esempio, numero unico." in text
    assert out[-1] == (
        "Call ended: queue operatore (department operatore, reason menu), language it, "
        "path lingua>benvenuto>principale>operatore"
    )


def test_interactive_silence_then_hang_up():
    typed = iter(["", "h"])
    asked: list[str] = []
    out: list[str] = []

    def read_line(prompt: str) -> str:
        asked.append(prompt)
        return next(typed)

    with FastAGIServer(CITY, port=0) as server:
        host, port = server.address
        code = run_console(None, host, port, read_line=read_line, write=out.append)
    assert code == 0 and len(asked) == 2
    assert any("no_input" in line for line in out)  # the engine said it heard nothing
    assert "choose_language" in out[1]  # no text lookup given and no settings: keys only
    assert out[-1] == "Call ended: you hung up."


def test_end_of_input_hangs_up():
    def read_line(prompt: str) -> str:
        raise EOFError

    out: list[str] = []
    with FastAGIServer(CITY, port=0) as server:
        run_console(None, *server.address, read_line=read_line, write=out.append)
    assert out[-1] == "Call ended: you hung up."


def test_goodbye_is_reported():
    def goodbye(agi):
        return FakeSession(Hangup((Prompt("goodbye", "it"),)))

    out: list[str] = []
    with FastAGIServer(make_handler(goodbye, "/snd", fallback_queue="operatore"), port=0) as server:
        run_console(None, *server.address, keys="", write=out.append)
    assert out[-1].startswith("Call ended: the service said goodbye")


def test_unreachable_service_returns_2(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    assert run_console(None, "127.0.0.1", port, keys="1", write=lambda _: None) == 2
    assert "cannot reach the FastAGI service" in capsys.readouterr().err


def test_helpers():
    assert parse_keys("1, 2,-,h") == ["1", "2", "", "h"] and parse_keys(None) is None
    assert split_prompt("/var/lib/nu/sounds/en/main_menu") == ("main_menu", "en")
    texts = prompt_texts(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
    assert texts("goodbye", "en") == "Thank you for calling. Goodbye."
    assert texts("hours_anagrafe", "it").startswith("Anagrafe: aperto dal lunedì al venerdì")
    assert texts("nope", "en") is None and texts("goodbye", "xx") is None
    caller = ConsoleCaller(text=texts, keys=[])
    assert (
        caller.describe("/snd/it/goodbye") == "[it] goodbye: Grazie per aver chiamato. Arrivederci."
    )
    assert caller.describe("digits:42") == "digits:42"

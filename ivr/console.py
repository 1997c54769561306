"""``ivr call``: a console phone that calls the running FastAGI service as Asterisk would.

It speaks the real protocol through :class:`ivr.agi.peer.AsteriskPeer`, so what you hear here is
what a caller hears: each prompt is shown (with its text when known), you type keys at each input
point (empty line = silence, ``h`` = hang up), and the end tells where the call went.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.agi.peer import HANG_UP, AsteriskPeer, CallRecord

# SAY DATE/TIME/DATETIME shown as the machine's local time, like Asterisk says them.
_WHEN = {"date": "%A %d %B %Y", "time": "%H:%M", "datetime": "%A %d %B %Y %H:%M"}

TextLookup = Callable[[str, str], str | None]  # (key, language) -> text


def split_prompt(path: str) -> tuple[str, str]:
    """``<sounds>/<lang>/<key>`` -> (key, lang); anything else -> (path, "")."""
    parts = path.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2]:
        return parts[-1], parts[-2]
    return path, ""


def prompt_texts(dialplan_path: str | Path, prompts_dir: str | Path) -> TextLookup:
    """Every text a caller of this dialplan may hear, generated hours and the vocabulary of
    sayings (dates, codes in de/zh/ar) included."""
    from ivr.flow.loader import load_dialplan
    from ivr.prompts.catalogue import audio_catalogue

    catalogue = audio_catalogue(load_dialplan(dialplan_path), prompts_dir)
    return lambda key, language: catalogue.get(language, {}).get(key)


class ConsoleCaller:
    """A person at the keyboard, or a scripted list of key lines (``keys``) for tests/demos."""

    def __init__(
        self,
        *,
        read_line: Callable[[str], str] = input,
        write: Callable[[str], Any] = print,
        text: TextLookup | None = None,
        keys: list[str] | None = None,
    ) -> None:
        self.read_line, self.write, self.text = read_line, write, text
        self.keys = list(keys) if keys is not None else None

    def describe(self, prompt: str) -> str:
        key, lang = split_prompt(prompt)
        if ":" in prompt and "/" not in prompt:  # SAY DIGITS etc.: "digits:123"
            kind, _, value = prompt.partition(":")
            if kind in _WHEN and value.lstrip("-").isdigit():  # epochs, as the caller hears them
                return f"{kind}: {datetime.fromtimestamp(int(value)).strftime(_WHEN[kind])}"
            return prompt
        said = self.text(key, lang) if self.text and lang else None
        tag = f"[{lang}] {key}" if lang else key
        return f"{tag}: {said}" if said else tag

    def during(self, prompt: str, escape_digits: str) -> str:
        self.write(f"  >> {self.describe(prompt)}")
        return ""

    def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        ask = f"  keys (up to {max_digits}; empty = silence, h = hang up)> "
        if self.keys is not None:
            if not self.keys:
                self.write(ask + "h")
                return HANG_UP
            line = self.keys.pop(0)
            self.write(ask + (line or "(silence)"))
        else:
            try:
                line = self.read_line(ask)
            except EOFError:
                return HANG_UP
        line = line.strip()
        return HANG_UP if line.lower() == "h" else line


def summary(record: CallRecord) -> str:
    """Where the call ended, in one line."""
    v = record.variables
    path = v.get("NU_PATH", "")
    if v.get("NU_QUEUE"):
        return (
            f"Call ended: queue {v['NU_QUEUE']} (department {v.get('NU_DEPARTMENT', '?')}, "
            f"reason {v.get('NU_REASON', '?')}), language {v.get('NU_LANG', record.language)}, "
            f"path {path or '-'}"
        )
    if record.hung_up == "caller":
        return "Call ended: you hung up."
    if record.hung_up == "script" or v.get("NU_HANGUP") == "yes":
        return f"Call ended: the service said goodbye and hung up (language {record.language})."
    return (
        f"Call ended with no route (AGISTATUS={record.status}): Asterisk would apologise and "
        "queue you for the general operator."
    )


def call(
    host: str,
    port: int,
    caller: ConsoleCaller,
    *,
    script: str = "",
    read_timeout: float | None = 60.0,
) -> CallRecord:
    peer = AsteriskPeer(caller, network_script=script)
    return peer.connect(host, port, read_timeout=read_timeout)


def parse_keys(keys: str | None) -> list[str] | None:
    """``"1,2,-,h"`` -> ["1", "2", "", "h"] ("-" is silence)."""
    if keys is None:
        return None
    return ["" if k.strip() == "-" else k.strip() for k in keys.split(",")]


def run_console(
    settings: Any = None,
    host: str | None = None,
    port: int | None = None,
    keys: str | None = None,
    *,
    text_lookup: TextLookup | None = None,
    read_line: Callable[[str], str] = input,
    write: Callable[[str], Any] = print,
) -> int:
    """``ivr call``: returns 0 when the call ran, 2 when the service can't be reached."""
    host = host or (settings.agi_host if settings else "127.0.0.1")
    port = port or (settings.agi_port if settings else 4573)
    if text_lookup is None and settings is not None:
        text_lookup = prompt_texts(settings.dialplan_path, settings.prompts_dir)
    if read_line is input and not sys.stdin.isatty():  # piped keys: show them like typed ones

        def read_line(prompt: str) -> str:
            line = input(prompt)
            write(line)
            return line

    caller = ConsoleCaller(
        read_line=read_line, write=write, text=text_lookup, keys=parse_keys(keys)
    )
    write(f"Calling agi://{host}:{port} ...")
    try:
        record = call(host, port, caller)
    except OSError as err:
        print(f"cannot reach the FastAGI service at {host}:{port}: {err}", file=sys.stderr)
        return 2
    if record.error:
        write(f"(connection problem: {record.error})")
    write(summary(record))
    return 0

"""The long-lived processes of Numero Unico, declared once.

``ivr up`` (one machine), the container entrypoint (``ivr services run``) and the systemd units
(``ivr services systemd``, committed under ``packaging/systemd/``) all start exactly this list,
each process only when the settings say it has something to do. Asterisk, Redis and the
database are not here: they are the platform these processes use, started by ``ivr up`` in
development, by the entrypoint in the container, and by their own Debian units in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ivr.config import Settings

# Exit status of a process that cannot work with the settings it was given (sysexits EX_CONFIG):
# starting it again would fail the same way, so neither the supervisor nor systemd restarts it.
EXIT_CONFIG = 78


@dataclass(frozen=True)
class Process:
    name: str
    args: tuple[str, ...]  # the ``ivr`` subcommand
    about: str
    # None when the process has work to do with these settings, else why it is not started
    off_because: Callable[[Settings], str | None]
    # whether the running process still serves (its environment -> bool); None: no probe. A
    # process that stops answering (frozen, wedged) is killed and so started again
    alive: Callable[[dict[str, str]], bool] | None = None

    def command(self, python: str) -> list[str]:
        return [python, "-m", "ivr", *self.args]


def _always(settings: Settings) -> str | None:
    return None


def _senders(settings: Settings) -> str | None:
    if settings.smtp_host or settings.sms_gateway_url:
        return None
    return "no NU_SMTP_HOST or NU_SMS_GATEWAY_URL: confirmations wait in the outbox"


def _callback_line(settings: Settings) -> str | None:
    return None if settings.callback_dial else "no NU_CALLBACK_DIAL: callbacks are not offered"


def _outbound_line(settings: Settings) -> str | None:
    if settings.teleassistance_dial:
        return None
    return "no NU_TELEASSISTANCE_DIAL: no courtesy call, broadcast or reminder is placed"


def _speech_models(settings: Settings) -> str | None:
    return None if settings.speech_models else "no NU_SPEECH_MODELS: menus take keys only"


def _nodes_line(settings: Settings) -> str | None:
    if settings.asterisk_nodes:
        return None
    return "no NU_ASTERISK_NODES: one Asterisk, which publishing reaches directly"


ALIVE_TIMEOUT_S = 0.75  # a liveness probe unanswered this long is a miss (ivr/supervisor.py)


def _fastagi_alive(env: dict[str, str]) -> bool:
    from ivr.agi.server import fastagi_alive

    host = env.get("NU_AGI_HOST") or "127.0.0.1"
    return fastagi_alive(
        "127.0.0.1" if host == "0.0.0.0" else host,
        int(env.get("NU_AGI_PORT") or 4573),
        timeout=ALIVE_TIMEOUT_S,
    )


PROCESSES: tuple[Process, ...] = (
    Process("fastagi", ("serve",), "the call flows, over FastAGI", _always, _fastagi_alive),
    Process("queues", ("queues", "watch"), "live queue state and queue KPIs (AMI)", _always),
    Process("outbox", ("booking", "outbox"), "booking confirmations by e-mail and SMS", _senders),
    Process("callbacks", ("callbacks", "run"), "callbacks keeping the place", _callback_line),
    Process(
        "outbound",
        ("outbound", "run"),
        "teleassistance calls, broadcasts and reminders",
        _outbound_line,
    ),
    Process("speech", ("speech", "serve"), "speech recognition (vosk)", _speech_models),
    Process("retention", ("retention", "run"), "daily purge past the retention period", _always),
    Process(
        "backoffice",
        ("backoffice", "ingest", "--every-s=60"),
        "voice-message requests kept while the database was down",
        _always,
    ),
    Process("logs", ("logs", "rotate", "--every-hours=1"), "log rotation by size and age", _always),
    Process("sipguard", ("sip", "guard"), "SIP bans after failed logins (AMI)", _always),
    Process(
        "nodesync",
        ("asterisk", "sync", "--every-s=30"),
        "Asterisk nodes that missed a publication brought up to the live version",
        _nodes_line,
    ),
    Process("admin", ("admin",), "the admin web and the operators' live view", _always),
)


def by_name(name: str) -> Process:
    for process in PROCESSES:
        if process.name == name:
            return process
    known = ", ".join(p.name for p in PROCESSES)
    raise KeyError(f"no process {name!r} (known: {known})")


def wanted(settings: Settings) -> list[Process]:
    """The processes these settings give work to, in start order."""
    return [p for p in PROCESSES if p.off_because(settings) is None]

"""Settings from the environment, with embedded defaults that run on one machine.

Every knob has one name (``NU_*``) and one default here; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _days(name: str, default: str) -> int:
    raw = _env(name, default)
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of days, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Where things are and how the service listens. Build with :func:`load`."""

    var_dir: Path = field(default_factory=lambda: Path(_env("NU_VAR_DIR", str(ROOT / "var"))))
    dialplan_path: Path = field(
        default_factory=lambda: Path(
            _env("NU_DIALPLAN", str(ROOT / "dialplans" / "example-city.yaml"))
        )
    )
    prompts_dir: Path = field(
        default_factory=lambda: Path(_env("NU_PROMPTS_DIR", str(ROOT / "prompts")))
    )
    # Where `ivr prompts build` writes audio, and where Asterisk (maybe in a chroot) reads it.
    sounds_dir: Path | None = None
    asterisk_sounds_dir: str = field(
        default_factory=lambda: _env("NU_ASTERISK_SOUNDS_DIR", "/var/lib/numero-unico/sounds")
    )
    # Where the admin copies the audio it builds so Asterisk can read it: the host path of
    # Asterisk's sounds folder when Asterisk runs in a chroot or elsewhere (`ivr up` sets its
    # chroot's). Empty: Asterisk reads NU_SOUNDS_DIR itself, nothing to copy.
    asterisk_sounds_sync_dir: str = field(
        default_factory=lambda: _env("NU_ASTERISK_SOUNDS_SYNC_DIR", "")
    )
    agi_host: str = field(default_factory=lambda: _env("NU_AGI_HOST", "127.0.0.1"))
    agi_port: int = field(default_factory=lambda: int(_env("NU_AGI_PORT", "4573")))
    # More FastAGI services ("host:port,host:port"), tried in order when the one above (and the
    # ones before) cannot be reached: a node keeps its IVR with one service down (no DNS SRV).
    agi_fallbacks: str = field(default_factory=lambda: _env("NU_AGI_FALLBACKS", ""))
    max_calls: int = field(default_factory=lambda: int(_env("NU_MAX_CALLS", "400")))
    # Empty URL means live state kept in memory (single process, tests, console phone).
    redis_url: str = field(default_factory=lambda: _env("NU_REDIS_URL", "redis://127.0.0.1:6379/0"))
    database_url: str = field(default_factory=lambda: _env("NU_DATABASE_URL", ""))
    # Booking confirmations (booking/outbox.py): e-mail through this SMTP relay and SMS through
    # this HTTP gateway (POST JSON). Empty: that kind of message waits in the outbox unsent.
    smtp_host: str = field(default_factory=lambda: _env("NU_SMTP_HOST", ""))
    smtp_port: int = field(default_factory=lambda: int(_env("NU_SMTP_PORT", "25")))
    smtp_from: str = field(
        default_factory=lambda: _env("NU_SMTP_FROM", "numero-unico@comune.example.it")
    )
    sms_gateway_url: str = field(default_factory=lambda: _env("NU_SMS_GATEWAY_URL", ""))
    sms_gateway_token: str = field(default_factory=lambda: _env("NU_SMS_GATEWAY_TOKEN", ""))
    # Callbacks (ivr/callbacks/): the outbound dial string, "{number}" replaced by the digits
    # (e.g. "PJSIP/{number}@trunk"); empty: callbacks are not offered (the caller is put through).
    callback_dial: str = field(default_factory=lambda: _env("NU_CALLBACK_DIAL", ""))
    # The switchboard directory's external numbers are dialled through the city's internal PBX
    # with this dial string, "{number}" replaced (e.g. PJSIP/{number}@city-pbx); empty: such
    # entries go straight to their department.
    pbx_dial: str = field(default_factory=lambda: _env("NU_PBX_DIAL", ""))
    callback_attempts: int = field(default_factory=lambda: int(_env("NU_CALLBACK_ATTEMPTS", "3")))
    callback_retry_s: float = field(
        default_factory=lambda: float(_env("NU_CALLBACK_RETRY_S", "120"))
    )
    callback_ring_s: int = field(default_factory=lambda: int(_env("NU_CALLBACK_RING_S", "30")))
    # This Asterisk node's name for the queue watcher's record of who waits where (empty: the
    # AMI address), and how long a node may stay gone before its waiting callers count as lost
    # with it and are offered a callback (ivr/queues/lost.py).
    node: str = field(default_factory=lambda: _env("NU_NODE", ""))
    node_lost_grace_s: float = field(
        default_factory=lambda: float(_env("NU_NODE_LOST_GRACE_S", "10"))
    )
    # Teleassistance (ivr/teleassistance/): the local hours courtesy calls to elderly citizens
    # may be made in; every citizen's own daily window must lie inside them.
    teleassistance_hours: str = field(
        default_factory=lambda: _env("NU_TELEASSISTANCE_HOURS", "09:00-20:00")
    )
    # The outbound dial string of courtesy calls, broadcasts and reminders ("{number}" replaced,
    # e.g. "PJSIP/{number}@trunk"); empty: no outbound call is placed (the desk says so).
    teleassistance_dial: str = field(default_factory=lambda: _env("NU_TELEASSISTANCE_DIAL", ""))
    # Outbound channels they may hold at once (every source together), ring time, attempts
    # per week and minutes between them; the department whose operators take teleassistance
    # calls (help asked on an automatic call, operator calls) - social services by default.
    teleassistance_channels: int = field(
        default_factory=lambda: int(_env("NU_TELEASSISTANCE_CHANNELS", "10"))
    )
    teleassistance_ring_s: int = field(
        default_factory=lambda: int(_env("NU_TELEASSISTANCE_RING_S", "30"))
    )
    teleassistance_attempts: int = field(
        default_factory=lambda: int(_env("NU_TELEASSISTANCE_ATTEMPTS", "3"))
    )
    teleassistance_retry_min: int = field(
        default_factory=lambda: int(_env("NU_TELEASSISTANCE_RETRY_MIN", "30"))
    )
    teleassistance_department: str = field(
        default_factory=lambda: _env("NU_TELEASSISTANCE_DEPARTMENT", "sociali")
    )
    # Appointment reminders (booking/reminders.py): the day before an office appointment, a call
    # (through NU_TELEASSISTANCE_DIAL) or an SMS, placed only inside these local hours, with so
    # many call attempts this many minutes apart; NU_REMINDER_SMS=1 sends an SMS instead of a
    # call to every mobile number (a number that cannot be called gets one anyway).
    reminder_hours: str = field(default_factory=lambda: _env("NU_REMINDER_HOURS", "17:00-20:00"))
    reminder_attempts: int = field(default_factory=lambda: int(_env("NU_REMINDER_ATTEMPTS", "2")))
    reminder_retry_min: int = field(
        default_factory=lambda: int(_env("NU_REMINDER_RETRY_MIN", "60"))
    )
    reminder_sms: bool = field(
        default_factory=lambda: _env("NU_REMINDER_SMS", "") in ("1", "yes", "true")
    )
    # 180 days: six months, the most art. 123 c.2 D.Lgs. 196/2003 keeps billing traffic data.
    retention_days: int = field(default_factory=lambda: _days("NU_RETENTION_DAYS", "180"))
    asterisk_root: Path = field(
        default_factory=lambda: Path(
            _env("NU_ASTERISK_ROOT", "/var/cache/numero-unico/asterisk-sid")
        )
    )
    # The rendered Asterisk configuration the services read their AMI login from (the container
    # and a production host: /etc/asterisk). Empty: the `ivr up` instance in the chroot.
    asterisk_etc: str = field(default_factory=lambda: _env("NU_ASTERISK_ETC", ""))
    # Several Asterisk nodes (issue 15): their rendered configuration folders, each with its own
    # manager.conf (AMI login), separated by commas; ``name=/folder`` names a node. Publishing
    # renders, reloads and confirms every one; `ivr asterisk sync` (the `nodesync` process) brings
    # a node that missed a publication up to the live version. Empty: NU_ASTERISK_ETC alone.
    asterisk_nodes: str = field(default_factory=lambda: _env("NU_ASTERISK_NODES", ""))
    # Kamailio in front of the nodes (ivr/kamailio/, docs/production.md). NU_KAMAILIO_ACCOUNTS:
    # the folder of its operator accounts' table, which every publication and operator change
    # rewrites, then reloads over NU_KAMAILIO_CTL (kamcmd's socket); empty: no Kamailio.
    # `ivr kamailio render` also takes NU_KAMAILIO_LISTEN (its address:port) and
    # NU_KAMAILIO_NODES (the nodes' SIP host:port, comma separated).
    kamailio_accounts: str = field(default_factory=lambda: _env("NU_KAMAILIO_ACCOUNTS", ""))
    kamailio_ctl: str = field(default_factory=lambda: _env("NU_KAMAILIO_CTL", ""))
    kamailio_listen: str = field(default_factory=lambda: _env("NU_KAMAILIO_LISTEN", ""))
    kamailio_nodes: str = field(default_factory=lambda: _env("NU_KAMAILIO_NODES", ""))
    # Ports `ivr up` and `ivr asterisk render` give Asterisk (SIP on UDP/TCP, AMI on loopback).
    sip_port: int = field(default_factory=lambda: int(_env("NU_SIP_PORT", "5060")))
    ami_port: int = field(default_factory=lambda: int(_env("NU_AMI_PORT", "5038")))
    # The admin web (`ivr admin`, one of the processes `ivr up` runs): loopback behind a proxy.
    admin_host: str = field(default_factory=lambda: _env("NU_ADMIN_HOST", "127.0.0.1"))
    admin_port: int = field(default_factory=lambda: int(_env("NU_ADMIN_PORT", "8080")))
    # Reverse proxies in front of the admin (nginx with TLS: docs/production.md). When > 0 the
    # admin trusts that many X-Forwarded-For/-Proto/-Host hops (the client's address for the
    # audit log and the login limiter) and sends its session cookie only over HTTPS.
    admin_proxy_hops: int = field(default_factory=lambda: int(_env("NU_ADMIN_PROXY_HOPS", "0")))
    # SIP hardening (ivr/sip/, docs/production.md). The `sipguard` process bans an address
    # (a pjsip ACL Asterisk answers 403 from) after NU_SIP_BAN_FAILURES failed registrations or
    # calls within NU_SIP_BAN_WINDOW_S seconds, for NU_SIP_BAN_SECONDS; addresses in
    # NU_SIP_BAN_IGNORE (comma-separated networks: the trunk, an SBC) are never banned.
    sip_ban_failures: int = field(default_factory=lambda: int(_env("NU_SIP_BAN_FAILURES", "5")))
    sip_ban_window_s: int = field(default_factory=lambda: int(_env("NU_SIP_BAN_WINDOW_S", "60")))
    sip_ban_seconds: int = field(default_factory=lambda: int(_env("NU_SIP_BAN_SECONDS", "3600")))
    sip_ban_ignore: str = field(default_factory=lambda: _env("NU_SIP_BAN_IGNORE", "127.0.0.1"))
    # Networks operators' softphones may register and call from (comma-separated CIDR).
    operator_networks: str = field(
        default_factory=lambda: _env("NU_OPERATOR_NETWORKS", "127.0.0.0/8")
    )
    # SIP over TLS on NU_SIP_PORT + 1 for operators off the local network (with SRTP: the
    # operator-endpoint-tls template), when a certificate is given: PEM paths as Asterisk sees
    # them. Empty: no TLS transport.
    sip_tls_cert: str = field(default_factory=lambda: _env("NU_SIP_TLS_CERT", ""))
    sip_tls_key: str = field(default_factory=lambda: _env("NU_SIP_TLS_KEY", ""))
    # The address the TLS transport listens on (0.0.0.0: every interface).
    sip_tls_bind: str = field(default_factory=lambda: _env("NU_SIP_TLS_BIND", "127.0.0.1"))
    # Our log file (rotated with Asterisk's: ivr/logrotate.py). Empty: standard error only, as
    # under systemd (the journal) or in the container. `ivr up` writes <var_dir>/log/ivr.log.
    log_file: str = field(default_factory=lambda: _env("NU_LOG_FILE", ""))
    # Asterisk's log folder (the container and a Debian host: /var/log/asterisk). Empty: the
    # `ivr up` instance's. Rotated logs of both are deleted after NU_LOG_KEEP_DAYS, and a log
    # is rotated early when it passes NU_LOG_MAX_SIZE (logrotate's size syntax: 50M, 1G).
    asterisk_log_dir: str = field(default_factory=lambda: _env("NU_ASTERISK_LOG_DIR", ""))
    log_keep_days: int = field(default_factory=lambda: _days("NU_LOG_KEEP_DAYS", "14"))
    log_max_size: str = field(default_factory=lambda: _env("NU_LOG_MAX_SIZE", "50M"))
    # What reaches standard error: `ivr up` keeps its terminal to its own steps (WARNING).
    console_log_level: str = field(
        default_factory=lambda: _env("NU_CONSOLE_LOG_LEVEL", "INFO").upper()
    )

    # Google Cloud Text-to-Speech for `ivr prompts build` (ivr/prompts/google_tts.py): a
    # service-account JSON file; empty means espeak-ng alone, offline.
    google_tts_credentials: str = field(
        default_factory=lambda: _env(
            "NU_GOOGLE_TTS_CREDENTIALS", _env("GOOGLE_APPLICATION_CREDENTIALS", "")
        )
    )
    google_tts_endpoint: str = field(default_factory=lambda: _env("NU_GOOGLE_TTS_ENDPOINT", ""))
    # A plain-text connection to NU_GOOGLE_TTS_ENDPOINT (a local server speaking the API: tests).
    google_tts_insecure: bool = field(
        default_factory=lambda: _env("NU_GOOGLE_TTS_INSECURE", "") in ("1", "yes", "true")
    )
    google_tts_voices: str = field(default_factory=lambda: _env("NU_GOOGLE_TTS_VOICES", ""))
    # Offline speech: "it=/opt/vosk/it-model,en=/opt/vosk/en-model" (docs/speech-models.md)
    speech_models: str = field(default_factory=lambda: _env("NU_SPEECH_MODELS", ""))
    speech_port: int = field(default_factory=lambda: int(_env("NU_SPEECH_PORT", "4574")))
    # FastAGI speech: Asterisk records the caller (RECORD FILE) into this folder and we read it.
    # Empty: <var_dir>/speech. When Asterisk sees it under another path (a chroot, another host's
    # mount), NU_ASTERISK_SPEECH_SPOOL_DIR is that path; empty means the same path.
    speech_spool_dir: str = field(default_factory=lambda: _env("NU_SPEECH_SPOOL_DIR", ""))
    asterisk_speech_spool_dir: str = field(
        default_factory=lambda: _env("NU_ASTERISK_SPEECH_SPOOL_DIR", "")
    )
    # Back office voice messages ("leave a request" in the IVR): Asterisk records them into this
    # folder (empty: <var_dir>/backoffice), where a request waits as a JSON file beside its
    # recording while the database is down; NU_ASTERISK_BACKOFFICE_SPOOL_DIR is the same folder
    # as Asterisk sees it (empty: the same path). NU_BACKOFFICE_MESSAGE_S: a message's longest.
    backoffice_spool_dir: str = field(default_factory=lambda: _env("NU_BACKOFFICE_SPOOL_DIR", ""))
    asterisk_backoffice_spool_dir: str = field(
        default_factory=lambda: _env("NU_ASTERISK_BACKOFFICE_SPOOL_DIR", "")
    )
    backoffice_message_s: int = field(
        default_factory=lambda: int(_env("NU_BACKOFFICE_MESSAGE_S", "60"))
    )

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise ValueError(f"NU_RETENTION_DAYS must be at least 1 day, not {self.retention_days}")
        if self.sounds_dir is None:
            sounds = _env("NU_SOUNDS_DIR", str(self.var_dir / "sounds"))
            object.__setattr__(self, "sounds_dir", Path(sounds))
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{self.var_dir / 'numero-unico.db'}"
            )


def load() -> Settings:
    """Read the settings from the environment now (tests set ``NU_*`` before calling)."""
    return Settings()

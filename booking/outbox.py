"""Send the outbox: SMS through an HTTP gateway, e-mail through SMTP, with retries.

The booking transaction only *writes* a message (:class:`booking.models.Outbox`); this worker
sends it later, so a slow or broken SMS gateway never holds a caller on the line or rolls back a
booking.

Delivery is **at least once**. A worker first *claims* a message (``status = sending``, a lease
in ``next_attempt_at``, ``attempts + 1``) and commits; then sends; then marks it ``sent``. If it
dies between sending and marking, the lease runs out and a worker sends it again: the citizen may
get the same SMS twice, but never none. Each send carries a stable id (``Idempotency-Key`` for
the gateway, ``Message-ID`` for e-mail) so a provider that deduplicates can drop the repeat.

Transient failures (network, 4xx/5xx SMTP replies, HTTP 5xx/429) are retried with exponential
backoff; permanent ones (a refused recipient, HTTP 4xx) and the last allowed attempt mark the
message ``failed`` with ``last_error``, which stays for the back office. Errors are redacted
before they are stored or logged: a gateway may echo the phone number.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from booking.models import MessageStatus, Outbox
from ivr.db import retrying, writer
from ivr.logs import mask_number, redact

log = logging.getLogger("booking.outbox")


class SendError(Exception):
    """The message did not go; worth trying again later."""


class PermanentSendError(SendError):
    """The message can never go as it is (bad recipient, rejected content): do not retry."""


@dataclass(frozen=True)
class Message:
    """What a sender needs, detached from the database row."""

    id: int
    kind: str
    recipient: str
    subject: str
    body: str
    ref: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        """Same for every attempt of one outbox row: lets a provider drop at-least-once repeats."""
        return f"nu-outbox-{self.id}"


class Sender(Protocol):
    def send(self, message: Message) -> None:
        """Deliver, or raise SendError / PermanentSendError."""


class SmtpSender:
    """E-mail through an SMTP relay (the city's mail server), one connection per message.

    One connection per message keeps a broken connection from failing the next message; the
    outbox sends few e-mails (back-office notices), so the handshake cost does not matter.
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "numero-unico@comune.example.it",
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password = starttls, username, password
        self.timeout = timeout

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or message.ref
        mail["Date"] = formatdate(localtime=True)
        domain = self.sender.rpartition("@")[2] or "localhost"
        mail["Message-ID"] = f"<{message.idempotency_key}@{domain}>"
        mail.set_content(message.body)
        return mail

    def send(self, message: Message) -> None:
        mail = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentSendError(f"SMTP recipient refused ({codes})") from err
            raise SendError(f"SMTP recipient deferred ({codes})") from err
        except smtplib.SMTPResponseException as err:
            kind = PermanentSendError if err.smtp_code >= 500 else SendError
            raise kind(f"SMTP {err.smtp_code} {err.smtp_error!r}") from err
        except (smtplib.SMTPException, OSError) as err:
            raise SendError(f"SMTP {type(err).__name__}: {err}") from err


class HttpSmsGateway:
    """SMS through a provider's HTTP API: ``POST url`` with a JSON body.

    Body ``{"to", "text", "from", "id"}`` and an ``Idempotency-Key`` header; most Italian and EU
    providers take this shape or need a ten-line adapter subclass overriding :meth:`payload`.
    2xx is sent; 408, 429 and 5xx are retried; other 4xx are permanent (bad number, bad text).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        sender_id: str = "Comune",
        timeout: float = 10.0,
    ) -> None:
        self.url, self.token, self.sender_id, self.timeout = url, token, sender_id, timeout

    def payload(self, message: Message) -> dict[str, str]:
        return {
            "to": message.recipient,
            "text": message.body,
            "from": self.sender_id,
            "id": message.idempotency_key,
        }

    def send(self, message: Message) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.url,
            data=json.dumps(self.payload(message)).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as err:
            detail = err.read(200).decode("utf-8", "replace")
            permanent = 400 <= err.code < 500 and err.code not in (408, 429)
            kind = PermanentSendError if permanent else SendError
            raise kind(f"HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, OSError) as err:
            raise SendError(f"gateway unreachable: {err}") from err


@dataclass
class RunReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxWorker:
    """Claims due messages, sends them with the sender for their kind, records the outcome.

    Several workers (threads or processes, SQLite or PostgreSQL) may run at once: a claim is a
    conditional UPDATE, so only one worker holds a message at a time (until its lease expires).
    ``clock`` must tell the same time as the BookingService's that wrote the rows (naive city
    time by default).
    """

    def __init__(
        self,
        engine: Engine,
        senders: Mapping[str, Sender],
        *,
        clock: Callable[[], datetime] | None = None,
        timezone: str = "Europe/Rome",
        max_attempts: int = 6,
        base_delay: timedelta = timedelta(seconds=30),
        max_delay: timedelta = timedelta(hours=1),
        lease: timedelta = timedelta(minutes=5),
        batch: int = 20,
    ) -> None:
        self.engine = engine
        self._write = writer(engine)
        self.senders = dict(senders)
        zone = ZoneInfo(timezone)
        self._clock = clock or (lambda: datetime.now(zone))
        self._zone = zone
        self.max_attempts = max_attempts
        self.base_delay, self.max_delay = base_delay, max_delay
        self.lease = lease
        self.batch = batch

    def now(self) -> datetime:
        moment = self._clock()
        if moment.tzinfo is not None:
            moment = moment.astimezone(self._zone).replace(tzinfo=None)
        return moment

    def backoff(self, attempts: int) -> timedelta:
        """30 s, 1 min, 2 min, 4 min... capped: a gateway outage is not hammered."""
        return min(self.base_delay * (2 ** max(attempts - 1, 0)), self.max_delay)

    # -- the three steps, each its own short transaction --

    def _claim(self) -> list[Message]:
        now = self.now()

        def work() -> list[Message]:
            with Session(self._write) as s, s.begin():
                # A message whose worker died mid-send after its last allowed attempt: give up.
                s.execute(
                    update(Outbox)
                    .where(
                        Outbox.status == MessageStatus.SENDING.value,
                        Outbox.next_attempt_at <= now,
                        Outbox.attempts >= self.max_attempts,
                    )
                    .values(
                        status=MessageStatus.FAILED.value,
                        last_error="no outcome recorded after the last attempt (worker lost)",
                    ),
                    execution_options={"synchronize_session": False},
                )
                due = s.scalars(
                    select(Outbox.id)
                    .where(
                        Outbox.status.in_(
                            (MessageStatus.PENDING.value, MessageStatus.SENDING.value)
                        ),
                        Outbox.next_attempt_at <= now,
                        Outbox.kind.in_(tuple(self.senders)),
                    )
                    .order_by(Outbox.next_attempt_at, Outbox.id)
                    .limit(self.batch)
                ).all()
                claimed: list[Message] = []
                for message_id in due:
                    row = s.execute(
                        update(Outbox)
                        .where(
                            Outbox.id == message_id,
                            Outbox.status.in_(
                                (MessageStatus.PENDING.value, MessageStatus.SENDING.value)
                            ),
                            Outbox.next_attempt_at <= now,
                            Outbox.attempts < self.max_attempts,
                        )
                        .values(
                            status=MessageStatus.SENDING.value,
                            attempts=Outbox.attempts + 1,
                            next_attempt_at=now + self.lease,
                        )
                        .returning(
                            Outbox.id,
                            Outbox.kind,
                            Outbox.recipient,
                            Outbox.subject,
                            Outbox.body,
                            Outbox.ref,
                            Outbox.attempts,
                        ),
                        execution_options={"synchronize_session": False},
                    ).one_or_none()
                    if row is not None:  # another worker may have taken it meanwhile
                        claimed.append(Message(*row))
                return claimed

        return retrying(work, what="outbox claim")

    def _finish(self, message: Message, values: dict[str, object]) -> None:
        def work() -> None:
            with Session(self._write) as s, s.begin():
                s.execute(
                    update(Outbox)
                    .where(
                        Outbox.id == message.id,
                        Outbox.status == MessageStatus.SENDING.value,
                        Outbox.attempts == message.attempt,  # still our claim
                    )
                    .values(**values),
                    execution_options={"synchronize_session": False},
                )

        retrying(work, what="outbox finish")

    def _mark_sent(self, message: Message) -> None:
        self._finish(
            message,
            {"status": MessageStatus.SENT.value, "sent_at": self.now(), "last_error": None},
        )

    def _mark_failed(self, message: Message, error: str, permanent: bool) -> bool:
        """Record a failed attempt; True when the message is given up for good."""
        final = permanent or message.attempt >= self.max_attempts
        values: dict[str, object] = {"last_error": error[:1000]}
        if final:
            values["status"] = MessageStatus.FAILED.value
        else:
            values["status"] = MessageStatus.PENDING.value
            values["next_attempt_at"] = self.now() + self.backoff(message.attempt)
        self._finish(message, values)
        return final

    def _who(self, message: Message) -> str:
        return mask_number(message.recipient) if message.kind == "sms" else "mailbox"

    def run_once(self) -> RunReport:
        """Send what is due now (at most ``batch`` messages)."""
        report = RunReport()
        for message in self._claim():
            report.claimed += 1
            try:
                self.senders[message.kind].send(message)
            except SendError as err:
                error = redact(str(err))
                report.errors.append(error)
                if self._mark_failed(message, error, isinstance(err, PermanentSendError)):
                    report.failed += 1
                    log.error(
                        "outbox #%d %s to %s failed for good after %d attempt(s): %s",
                        message.id,
                        message.kind,
                        self._who(message),
                        message.attempt,
                        error,
                    )
                else:
                    report.retried += 1
                    log.warning(
                        "outbox #%d %s to %s: attempt %d failed, will retry: %s",
                        message.id,
                        message.kind,
                        self._who(message),
                        message.attempt,
                        error,
                    )
                continue
            self._mark_sent(message)
            report.sent += 1
            log.info(
                "outbox #%d %s to %s sent (attempt %d)",
                message.id,
                message.kind,
                self._who(message),
                message.attempt,
            )
        return report

    def run_forever(self, stop: threading.Event, idle: float = 2.0) -> None:
        """Loop until ``stop`` is set; sleeps ``idle`` seconds when nothing was due."""
        while not stop.is_set():
            try:
                report = self.run_once()
            except Exception:  # the database may be restarting: keep the worker alive
                log.exception("outbox worker pass failed")
                report = RunReport()
            if report.claimed == 0:
                stop.wait(idle)

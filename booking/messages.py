"""SMS and e-mail texts in the caller's language (it/en).

Short and plain: an SMS over 160 GSM-7 characters is split and billed twice (à è é ì ò ù are
GSM-7, other accents are not), and a citizen reads it on the bus. Never the caller's number in
a text; the code, so they can cancel by phone.
"""

from __future__ import annotations

from datetime import datetime

_WEEKDAYS = {
    "it": ("lun", "mar", "mer", "gio", "ven", "sab", "dom"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}

CERTIFICATE_NAMES = {
    "it": {
        "residence": "certificato di residenza",
        "family_status": "certificato di stato di famiglia",
        "birth": "certificato di nascita",
        "citizenship": "certificato di cittadinanza",
        "marriage": "certificato di matrimonio",
    },
    "en": {
        "residence": "residence certificate",
        "family_status": "family status certificate",
        "birth": "birth certificate",
        "citizenship": "citizenship certificate",
        "marriage": "marriage certificate",
    },
}


def when(moment: datetime, language: str) -> str:
    """``mar 14/04 ore 09:20`` / ``Tue 14/04 at 09:20``: what a citizen writes on a calendar."""
    day = f"{_WEEKDAYS[language][moment.weekday()]} {moment:%d/%m/%Y}"
    return f"{day} {'at' if language == 'en' else 'ore'} {moment:%H:%M}"


def booking_confirmed(
    language: str, code: str, service: str, moment: datetime, office: str, address: str, city: str
) -> str:
    if language == "en":
        return (
            f"Booking {code} confirmed: {service}, {when(moment, language)}, {office}, "
            f"{address}. To cancel call {city}."
        )
    return (
        f"Prenotazione {code} confermata: {service}, {when(moment, language)}, {office}, "
        f"{address}. Per annullare chiami lo {city}."
    )


def booking_cancelled(language: str, code: str, service: str, moment: datetime) -> str:
    if language == "en":
        return f"Booking {code} cancelled ({service}, {when(moment, language)})."
    return f"Prenotazione {code} annullata ({service}, {when(moment, language)})."


def booking_moved(
    language: str, code: str, service: str, moment: datetime, office: str, address: str
) -> str:
    if language == "en":
        return (
            f"Booking {code} moved: {service}, now {when(moment, language)}, {office}, {address}."
        )
    return (
        f"Prenotazione {code} spostata: {service}, ora {when(moment, language)}, {office}, "
        f"{address}."
    )


def booking_closed(language: str, code: str, service: str, moment: datetime, city: str) -> str:
    if language == "en":
        return (
            f"We are sorry: the office is closed on {when(moment, language)}. Booking {code} "
            f"({service}) is cancelled; call {city} to book another time."
        )
    return (
        f"Ci scusiamo: l'ufficio sarà chiuso {when(moment, language)}. La prenotazione {code} "
        f"({service}) è annullata; chiami lo {city} per un nuovo appuntamento."
    )


def booking_reminder(
    language: str, code: str, service: str, moment: datetime, office: str, address: str, city: str
) -> str:
    """The day-before reminder, when it goes by SMS (booking/reminders.py)."""
    if language == "en":
        return (
            f"Reminder {code}: {service} tomorrow, {when(moment, language)}, {office}, "
            f"{address}. To cancel call {city}."
        )
    return (
        f"Promemoria {code}: {service} domani, {when(moment, language)}, {office}, "
        f"{address}. Per annullare chiami lo {city}."
    )


def certificate_requested(
    language: str, code: str, kind: str, delivery: str, office: str | None
) -> str:
    name = CERTIFICATE_NAMES[language][kind]
    if language == "en":
        where = (
            "It will be posted to your registered address."
            if delivery == "post"
            else f"We will text you when it is ready at {office}."
        )
        return f"Request {code} for a {name} received. {where}"
    where = (
        "Le sarà spedito all'indirizzo di residenza."
        if delivery == "post"
        else f"Le scriveremo quando sarà pronto presso {office}."
    )
    return f"Richiesta {code} di {name} ricevuta. {where}"


def certificate_done(language: str, code: str, kind: str, status: str, office: str | None) -> str:
    name = CERTIFICATE_NAMES[language][kind]
    if language == "en":
        if status == "sent":
            return f"Request {code}: your {name} has been posted."
        return f"Request {code}: your {name} is ready for pick-up at {office}."
    if status == "sent":
        return f"Richiesta {code}: il {name} è stato spedito."
    return f"Richiesta {code}: il {name} è pronto da ritirare presso {office}."


def certificate_email(code: str, kind: str, delivery: str, language: str) -> tuple[str, str]:
    """(subject, body) for the back office. No phone number: they look the request up."""
    name = CERTIFICATE_NAMES["it"][kind]
    how = "spedizione all'indirizzo di residenza" if delivery == "post" else "ritiro allo sportello"
    subject = f"Nuova richiesta {code}: {name}"
    body = (
        f"Richiesta telefonica {code}\n"
        f"Documento: {name}\n"
        f"Consegna: {how}\n"
        f"Lingua del cittadino: {language}\n"
    )
    return subject, body

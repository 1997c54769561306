"""``ivr.logs.RedactingFilter``: whatever reaches a handler is masked like ``CallLogger`` masks a
call's lines, message and args alike, tracebacks included; short numbers and ids stay readable."""

from __future__ import annotations

import io
import logging

import pytest

from ivr.logs import RedactingFilter, redact


def record(msg, args=None, **kw) -> logging.LogRecord:
    return logging.LogRecord("ivr.test", logging.INFO, __file__, 1, msg, args, None, **kw)


def filtered(rec: logging.LogRecord) -> logging.LogRecord:
    assert RedactingFilter().filter(rec) is True  # never drops a record
    return rec


def test_a_number_in_the_message_is_masked():
    rec = filtered(record("call from 3471234567 to the registry"))
    assert rec.getMessage() == "call from ********67 to the registry"


@pytest.mark.parametrize(
    "msg, args",
    [
        ("callback for %s", ("3471234567",)),
        ("callback for %s", ("+39 347 123 4567",)),
        ("callback for %d", (3471234567,)),
        ("callback for %(number)s", ({"number": "3471234567"},)),  # as logger.info passes it
    ],
)
def test_a_number_in_the_args_is_masked(msg, args):
    rec = filtered(record(msg, args))
    text = rec.getMessage()
    assert "1234567" not in text.replace(" ", "") and text.startswith("callback for ")
    assert text.endswith("67")
    assert rec.args is None  # the masked text is final: no handler formats the number again


def test_short_numbers_and_ids_stay_readable():
    text = "queue anagrafe: 3 waiting, longest 125 s, call nu-ab12cd-ivr, callback 42"
    assert filtered(record("%s", (text,))).getMessage() == text


def test_a_traceback_is_masked_too():
    try:
        raise ValueError("no slot for caller 3471234567")
    except ValueError:
        rec = filtered(logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, _exc()))
    assert "3471234567" not in rec.exc_text and "********67" in rec.exc_text
    out = logging.Formatter().format(rec)
    assert "3471234567" not in out and "ValueError" in out


def _exc():
    import sys

    return sys.exc_info()


def test_on_a_handler_any_logger_is_masked_and_filtering_twice_changes_nothing():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    second = logging.StreamHandler(io.StringIO())
    second.addFilter(RedactingFilter())  # a second handler filters the same, already masked record
    logger = logging.getLogger("ivr.test.redaction")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.addHandler(second)
    try:
        logging.getLogger("ivr.test.redaction.child").debug(
            "typed %s, then %s", "0612345678", "39582171"
        )
        logger.info("plain %s", "no digits")
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(second)
        logger.propagate = True
    assert stream.getvalue().splitlines() == [
        "ivr.test.redaction.child typed ********78, then ******71",
        "ivr.test.redaction plain no digits",
    ]
    assert second.stream.getvalue().splitlines() == [
        "typed ********78, then ******71",
        "plain no digits",
    ]


def test_a_malformed_call_is_still_logged_masked():
    rec = filtered(record("caller %s %s", ("3471234567",)))  # one arg missing
    assert "3471234567" not in rec.getMessage() and "********67" in rec.getMessage()


def test_the_filter_masks_like_redact():
    text = "booking 12345678 for +39 06 1234 5678"
    assert filtered(record(text)).getMessage() == redact(text)

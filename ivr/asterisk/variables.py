"""Every ``NU_*`` channel and dialplan variable name, in one place.

These names are the contract between our Python code and Asterisk's dialplan: the runner and
the FastAGI server set them (SET VARIABLE), ``ivr asterisk render`` writes the globals and the
per-queue ones into extensions_nu.conf, the callback worker originates its placeholders with
them, and the static ``asterisk-conf/extensions.conf`` (which keeps its literal names) and
``manager.conf`` read them. ``tests/test_asterisk_variables.py`` checks that every ``NU_*`` name
in those files and in the rendered output is declared here, and that every name here is used.
"""

from __future__ import annotations

# -- set by the FastAGI service before it closes (extensions.conf [nu-ivr] reads them) --------
QUEUE = "NU_QUEUE"  # queue to hand the caller to
DEPARTMENT = "NU_DEPARTMENT"  # department id
LANG = "NU_LANG"  # the caller's language
REASON = "NU_REASON"  # why the call goes to a human (menu, retries, busy, overflow...)
PATH = "NU_PATH"  # node ids the caller went through, joined by ">"
HANGUP = "NU_HANGUP"  # "yes": the engine said goodbye, no operator
CONTEXT_PREFIX = "NU_CTX_"  # + the transfer context's key (lang, path, said...), for the operator
CTX_SAID = CONTEXT_PREFIX + "SAID"  # what the caller said to a speech node
SAID = "NU_SAID"  # NU_CTX_SAID as the operator's channel inherits it (manager.conf channelvars)
DIAL = "NU_DIAL"  # a directory entry to ring before NU_QUEUE (PJSIP/201, the city PBX's string)

# -- globals rendered into extensions_nu.conf (ivr/asterisk/render.py) ------------------------
AGI_URL = "NU_AGI_URL"
AGI_FALLBACKS = "NU_AGI_FALLBACKS"  # more FastAGI URLs, "|"-separated, tried when one is down
SOUNDS = "NU_SOUNDS"
LANGS = "NU_LANGS"  # the city's languages, "|"-separated
DEFAULT_LANG = "NU_DEFAULT_LANG"
GENERAL_QUEUE = "NU_GENERAL_QUEUE"
QUEUE_TIMEOUT = "NU_QUEUE_TIMEOUT"
GENERAL_TIMEOUT = "NU_GENERAL_TIMEOUT"
QUEUE_LABEL = "NU_QUEUE_LABEL"  # set per queue extension: the department's label
QUEUE_RUN = "NU_QUEUE_RUN"  # the queue Asterisk runs: NU_QUEUE's twin for the caller's language
SPEECH = "NU_SPEECH"  # "1": the FastAGI service listens to speech (NU_SPEECH_MODELS is set)
JOINED = "NU_JOINED"  # nu-join: 1 when the operator was allowed into the queue

# -- set by extensions.conf for itself ---------------------------------------------------------
CID_NAME = "NU_CID_NAME"  # the caller-id name before the queue label was put in front
CID_DONE = "NU_CID_DONE"
AGI_NEXT = "NU_AGI_NEXT"  # nu-ivr: which of NU_AGI_FALLBACKS to try next

# -- a callback's placeholder (ivr/callbacks/worker.py originates it; extensions.conf) --------
CB_ID = "NU_CB_ID"
CB_NUMBER = "NU_CB_NUMBER"
CB_DIAL = "NU_CB_DIAL"
CB_RING = "NU_CB_RING"
CB_POSITION = "NU_CB_POSITION"
CB_PRIO = "NU_CB_PRIO"
CB_CALL = "NU_CB_CALL"

# -- an outbound call (ivr/outbound/dialler.py originates it; extensions.conf [nu-outbound]) -
OUT_KEY = "NU_OUT_KEY"  # the attempt's key, also its channel id: results come back with it
OUT_THEN = "NU_OUT_THEN"  # the context a person who answered continues in (the source's)
OUT_AMD = "NU_OUT_AMD"  # "1": run answering-machine detection before handing the line on
TA_CALL = "NU_TA_CALL"  # a teleassistance week call's id (the desk opens the citizen's sheet)
TA_KIND = "NU_TA_KIND"  # "automatic" (keys 1/2) or "operator" (straight to the operators' queue)
TA_KEY = "NU_TA_KEY"  # set by extensions.conf: the key the citizen pressed
TA_ANSWER = "NU_TA_ANSWER"  # set by the courtesy call's FastAGI (ivr/agi/courtesy.py): 1, 2, none
TA_QUEUE = "NU_TA_QUEUE"  # extensions.conf: NU_QUEUE kept across that AGI (its overflow answer)
TA_TRIES = "NU_TA_TRIES"  # extensions.conf: how many times Read() asks for a key (3, 2 after none)
# a broadcast's message (ivr/teleassistance/broadcasts.py; [nu-teleassistance-broadcast])
BC_AUDIO = "NU_BC_AUDIO"  # "<lang>/broadcast_<id>" under NU_SOUNDS; filtered to [a-z0-9_/]
BC_KEY = "NU_BC_KEY"  # set by extensions.conf: a key pressed to hear the message again
BC_TIMES = "NU_BC_TIMES"  # set by extensions.conf: how many times the message was played
REM_AT = "NU_REM_AT"  # an appointment reminder: the appointment's epoch seconds
REM_ZONE = "NU_REM_ZONE"  # the city's time zone, the one the appointment is said in
REM_OFFICE = "NU_REM_OFFICE"  # the appointment's office id
REM_SERVICE = "NU_REM_SERVICE"  # the appointment's service id
REM_KEY = "NU_REM_KEY"  # set by extensions.conf: 1 confirm, 2 cancel
REM_FORMAT = "NU_REM_FORMAT"  # set by extensions.conf: SayUnixTime's format for the language

# -- a back-office call back (ivr/backoffice/callback.py originates it; [nu-backoffice-call]) -
BO_KEY = "NU_BO_KEY"  # the attempt's key, also the staff leg's channel id: the result carries it
BO_DIAL = "NU_BO_DIAL"  # the citizen's outbound dial string (never logged)
BO_RING = "NU_BO_RING"  # seconds the citizen's phone rings
BO_REQUEST = "NU_BO_REQUEST"  # set by extensions.conf: the request id (the extension dialled)


def assign(name: str, value: object) -> str:
    """``NAME=value``, as AMI's Originate ``Variable`` and the dialplan's globals take it."""
    return f"{name}={value}"


def ref(name: str) -> str:
    """``${NAME}``: the variable's value in a dialplan line."""
    return "${" + name + "}"

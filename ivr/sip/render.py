"""What the SIP hardening adds to the rendered Asterisk configuration (``ivr/asterisk/render``).

* ``@OPERATOR_NETWORKS@`` in ``acl.conf``'s ``operators-acl`` (the operator endpoint template
  uses it): the networks operators may register and call from; anyone else using an operator's
  name meets pjsip's artificial endpoint, exactly like an unknown user.
* ``pjsip_tls.conf`` (``#tryinclude``d by ``pjsip.conf``): the TLS transport on SIP port + 1
  when ``NU_SIP_TLS_CERT`` is set, else only a comment (no transport without a certificate).
"""

from __future__ import annotations

import re

from ivr.config import Settings
from ivr.sip.bans import networks

TLS_FILE = "pjsip_tls.conf"
_PEM_PATH = re.compile(r"^/[A-Za-z0-9._/-]{1,300}$")


def operator_networks(settings: Settings) -> str:
    """``NU_OPERATOR_NETWORKS`` checked and written the way an Asterisk ACL reads it."""
    nets = networks(settings.operator_networks, "NU_OPERATOR_NETWORKS")
    if not nets:
        raise ValueError("NU_OPERATOR_NETWORKS names no network: no operator could register")
    return ",".join(str(n) for n in nets)


def render_tls(settings: Settings, sip_port: int) -> str:
    """``pjsip_tls.conf`` for these settings (``sip_port``: the UDP transport's)."""
    head = "; SIP over TLS for operators (the TLS certificate setting), rendered.\n"
    if not settings.sip_tls_cert:
        return head + "; No certificate configured: no TLS transport.\n"
    cert, key = settings.sip_tls_cert, settings.sip_tls_key or settings.sip_tls_cert
    for name, path in (("NU_SIP_TLS_CERT", cert), ("NU_SIP_TLS_KEY", key)):
        if not _PEM_PATH.match(path):
            raise ValueError(f"{name}: {path!r} is not an absolute path Asterisk can read")
    bind = str(networks(settings.sip_tls_bind, "NU_SIP_TLS_BIND")[0].network_address)
    return head + (
        "[transport-tls]\n"
        "type = transport\n"
        "protocol = tls\n"
        f"bind = {bind}:{sip_port + 1}\n"
        f"cert_file = {cert}\n"
        f"priv_key_file = {key}\n"
        "method = tlsv1_2\n"
    )

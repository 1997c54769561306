"""SIP hardening: bans after failed logins (``sipguard``), operator networks, TLS (issue 12).

Enumeration is Asterisk's own behaviour, configured in ``asterisk-conf/pjsip.conf``: an unknown
user meets pjsip's artificial endpoint, challenged with the same realm (``default_realm``) as
a real operator's auth, so both get the same 401 with and without credentials.
"""

"""Kamailio in front of the Asterisk nodes (ARCHITECTURE.md, "Two nodes"): its configuration
rendered from the settings (``render``), the operator accounts it checks kept current while it
runs (``accounts``), and ``ivr kamailio ...`` (``cli``). Debian's ``kamailio`` runs it."""

"""Callbacks that keep the caller's place: the request table, the ``callback`` node kind, the
``callbacks.request`` service and the worker that calls the citizen back through Asterisk."""

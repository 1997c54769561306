"""The service contract: what answers an :class:`~ivr.flow.actions.Invoke`.

A node asks a city service (booking, callbacks, queue state...) with ``Invoke(name, args)`` and is
answered one :class:`~ivr.flow.actions.Result`. Whoever runs the call (the FastAGI runner, tests)
looks the name up in a :data:`Services` registry and calls the :data:`Service` with ``args``:

- the service's return value is ``Result(value=...)``;
- :class:`ServiceError` is a named refusal: ``Result(value=err.value, error=err.code)``;
- a missing service, or any other exception, is ``Result(error=UNAVAILABLE)``.

Services therefore never need the runner: they import this module, which has no I/O and no
dependency outside the call-flow layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

UNAVAILABLE = "unavailable"
"""The error code of a service that is missing, down or broken: the flow says so and goes on."""

Service = Callable[[dict[str, Any]], Any]
"""A city service: called with the Invoke's ``args``, returns the Result's value."""

Services = Mapping[str, Service]
"""The registry the runner looks an Invoke's service name up in."""


class ServiceError(Exception):
    """Raised by a service to answer the engine with a named error (e.g. ``slot_full``); ``value``
    travels with it (e.g. the next free slot)."""

    def __init__(self, code: str, value: Any = None) -> None:
        super().__init__(code)
        self.code, self.value = code, value

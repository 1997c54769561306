"""The city's call flow as plain immutable data: departments, calendar and nodes.

Built by :mod:`ivr.flow.loader` from YAML, checked by :mod:`ivr.flow.validate`, run by
:mod:`ivr.flow.engine`. Immutable so a call keeps the version it started with while a new one is
published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

from ivr.queues.estimate import SaturationPolicy

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Prompts the engine itself may play, whatever the nodes say. Every language needs them.
ENGINE_PROMPTS = (
    "invalid_choice",
    "no_input",
    "too_many_attempts",
    "transferring",
    "closed_now",
    "goodbye",
    "service_unavailable",
)
# Said before a transfer to a department with a saturation policy: "you are number 3 in line;
# the wait is about 4 minutes".
QUEUE_PROMPTS = ("queue_position", "queue_wait_about", "minute", "minutes")


def engine_prompts(dialplan: Dialplan) -> tuple[str, ...]:
    """Prompts the engine may play in this dialplan, whatever its nodes say."""
    if any(d.saturation is not None for d in dialplan.departments.values()):
        return ENGINE_PROMPTS + QUEUE_PROMPTS
    return ENGINE_PROMPTS


def hours_prompt(department_id: str) -> str:
    """Key of the generated prompt that reads a department's opening hours."""
    return f"hours_{department_id}"


@dataclass(frozen=True)
class TimeRange:
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class WeeklyHours:
    """Opening hours by weekday (0 = Monday). ``always`` means 24/7."""

    always: bool = False
    days: tuple[tuple[TimeRange, ...], ...] = ((),) * 7


@dataclass(frozen=True)
class Closure:
    """A one-off closure: the whole day, or from ``start`` (inclusive) to ``end``."""

    day: date
    start: time | None = None
    end: time | None = None
    reason: str = ""


@dataclass(frozen=True)
class CityCalendar:
    """What closes every office: the patron saint's day and city-wide closures."""

    patron_saint: tuple[int, int] | None = None  # (month, day)
    patron_saint_name: str = ""
    closures: tuple[Closure, ...] = ()


@dataclass(frozen=True)
class Department:
    id: str
    queue: str
    names: dict[str, str]
    hours: WeeklyHours
    holidays_open: bool = False
    closures: tuple[Closure, ...] = ()
    saturation: SaturationPolicy | None = None
    """When the queue counts as saturated and which node saturated callers go to instead."""


@dataclass(frozen=True)
class Node:
    id: str
    line: int

    def targets(self) -> tuple[str, ...]:
        """Node ids this node can lead to."""
        return ()

    def prompt_keys(self) -> tuple[str, ...]:
        return ()

    def departments(self) -> tuple[str, ...]:
        """Department ids this node names (checked to exist)."""
        return ()

    @property
    def kind(self) -> str:
        return KIND_OF[type(self)]

    @property
    def waits_for_caller(self) -> bool:
        """True when the caller must act before the flow moves on (breaks automatic loops)."""
        return False


@dataclass(frozen=True)
class LanguageNode(Node):
    """Offers languages; ``prompt`` is played once in each offered language, in option order."""

    prompt: str = ""
    options: dict[str, str] = field(default_factory=dict)  # digit -> language
    next: str = ""
    retries: int = 3
    timeout_ms: int = 5000

    def targets(self) -> tuple[str, ...]:
        return (self.next,)

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt,)

    @property
    def waits_for_caller(self) -> bool:
        return True


@dataclass(frozen=True)
class MenuNode(Node):
    prompt: str = ""
    options: dict[str, str] = field(default_factory=dict)  # digit -> node id
    repeat: str | None = None
    retries: int = 3
    timeout_ms: int = 5000

    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.options.values()))

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt,)

    @property
    def waits_for_caller(self) -> bool:
        return True


@dataclass(frozen=True)
class PlayNode(Node):
    prompts: tuple[str, ...] = ()
    next: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.next,)

    def prompt_keys(self) -> tuple[str, ...]:
        return self.prompts


@dataclass(frozen=True)
class HoursNode(Node):
    """Time condition: ``open`` when the department is open now, else its hours then ``closed``."""

    department: str = ""
    open: str = ""
    closed: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.open, self.closed)

    def prompt_keys(self) -> tuple[str, ...]:
        return ("closed_now", hours_prompt(self.department))

    def departments(self) -> tuple[str, ...]:
        return (self.department,)


@dataclass(frozen=True)
class TransferNode(Node):
    """Hand over to a department's queue. ``hold``: the caller chose to wait even if the
    department is saturated (its policy's offer is skipped; position and wait are still said)."""

    department: str = ""
    prompt: str | None = "transferring"
    hold: bool = False

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt,) if self.prompt else ()

    def departments(self) -> tuple[str, ...]:
        return (self.department,)


@dataclass(frozen=True)
class GotoNode(Node):
    next: str = ""

    def targets(self) -> tuple[str, ...]:
        return (self.next,)


@dataclass(frozen=True)
class HangupNode(Node):
    prompts: tuple[str, ...] = ("goodbye",)

    def prompt_keys(self) -> tuple[str, ...]:
        return self.prompts


KIND_OF: dict[type[Node], str] = {
    LanguageNode: "language",
    MenuNode: "menu",
    PlayNode: "play",
    HoursNode: "hours",
    TransferNode: "transfer",
    GotoNode: "goto",
    HangupNode: "hangup",
}
NODE_TYPES: dict[str, type[Node]] = {kind: cls for cls, kind in KIND_OF.items()}


def register_node(kind: str, cls: type[Node]) -> None:
    """Add a feature node kind (booking, speech...). ``cls`` provides ``FIELDS`` (allowed YAML
    keys besides ``type``) and ``parse(reader, node_id, body, line)``; see ivr/flow/loader.py."""
    KIND_OF[cls] = kind
    NODE_TYPES[kind] = cls


@dataclass(frozen=True)
class Dialplan:
    city: str
    number: str
    timezone: str
    languages: tuple[str, ...]
    default_language: str
    general_operator: str
    calendar: CityCalendar
    departments: dict[str, Department]
    start: str
    nodes: dict[str, Node]
    source: str = "<dialplan>"

    @property
    def operator(self) -> Department:
        """The general operator department: where every failure ends up."""
        return self.departments[self.general_operator]

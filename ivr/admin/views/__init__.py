"""The admin's pages as Flask blueprints, one module per area; :func:`ivr.admin.app.create_app`
registers :data:`BLUEPRINTS`. A view reaches the app's services through
:func:`ivr.admin.services.services` and shares helpers from :mod:`ivr.admin.views.common`.
Endpoints, for ``url_for``, are ``<blueprint>.<view>``: ``flow.node``, ``publishing.home``."""

from __future__ import annotations

from flask import Blueprint

from ivr.admin.views import (
    account,
    broadcasts,
    departments,
    desk,
    desk_teleassistance,
    directory,
    flow,
    live,
    open311,
    operators,
    prompts,
    publishing,
    simulator,
    teleassistance,
    teleassistance_report,
    users,
)

BLUEPRINTS: tuple[Blueprint, ...] = (
    account.bp,
    publishing.bp,
    flow.bp,
    simulator.bp,
    departments.bp,
    prompts.bp,
    live.bp,
    users.bp,
    directory.bp,
    operators.bp,
    desk.bp,
    teleassistance.bp,
    broadcasts.bp,
    teleassistance_report.bp,
    desk_teleassistance.bp,
    open311.bp,
)

# The back office's knowledge, categories and report (issue 14).
from ivr.admin.views import (  # noqa: E402
    backoffice_categories,
    backoffice_faq,
    backoffice_report,
)

BLUEPRINTS += (backoffice_categories.bp, backoffice_faq.bp, backoffice_report.bp)
# The back office's work queue (appended: other areas register theirs the same way).
from ivr.admin.views import backoffice  # noqa: E402

BLUEPRINTS += (backoffice.bp,)

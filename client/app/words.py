"""Words the pages show from data (a role, a kind of case, a case's or a decision's state, an action), marked
here so the catalogs carry them; the templates translate them where they are shown (`_(value)`)."""

from __future__ import annotations

from typing import Final

from client.report.strings import N_

ROLES: Final = (N_("helper"), N_("council"), N_("admin"))
KINDS: Final = (
    N_("shelter"),
    N_("clothing"),
    N_("food"),
    N_("medical"),
    N_("financial-support"),
    N_("schooling"),
    N_("self-reliance"),
    N_("relocation"),
    N_("testimony"),
    N_("press-request"),
    N_("food-distribution"),
)
CASE_STATES: Final = (N_("open"), N_("decided"), N_("closed"))
DECISION_STATES: Final = (N_("adopted"), N_("rejected"), N_("unverified"))
ACTIONS: Final = (N_("approve"), N_("decline"), N_("request-info"), N_("close"))
SEALED_WITH: Final = (N_("identity"), N_("case"))

"""KPIs: one ``call_records`` row per call (path, speech, wait, outcome) and the reports on them.

``models`` is the table (on the city database's ``Base``, :mod:`ivr.db`; its revision is in
``migrations/versions``); ``records`` the pure rules that fill a row from the IVR's outcome and
from AMI queue events; ``recorder`` the writer (a background thread: recording never delays or
breaks a call); ``report`` the pure KPI computation against the Italian targets; ``cli``
``ivr kpi report``.
"""

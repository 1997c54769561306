"""The back office: what the phone can't solve becomes a tracked request (category, severity,
SLA deadline, status, assignee, history), worked by priority and answered by a call back,
an SMS or an e-mail; created from the desk, the IVR's voice messages and the GeoReport v2 API."""

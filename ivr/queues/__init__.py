"""Operator queues under load: live state, wait estimates and the saturation policy.

The core here is pure (``estimate``); Redis and AMI live at the edges, in their own modules.
"""

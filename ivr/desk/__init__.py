"""The operator desk's call context: built when the IVR hands a caller over (FastAGI), kept in
Redis for a few hours, shown on the desk of the operator whose phone rings (``ivr/admin``)."""

"""The admin web: edit, simulate, publish and roll back the city's call flows (``ivr admin``).

``create_app`` builds the Flask app; ``publish.Publisher`` does the going-live work without
Flask; ``cli`` holds what ``ivr admin`` and ``ivr admin create-user`` run.
"""

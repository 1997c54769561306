"""The admin web: edit, simulate, publish and roll back the city's call flows (``ivr admin``).

``create_app`` builds the Flask app from the blueprints in ``views`` (one module per area) and
one typed ``services.AdminServices``; ``publish.Publisher`` does the going-live work without
Flask; ``cli`` holds what ``ivr admin`` and ``ivr admin create-user`` run.
"""

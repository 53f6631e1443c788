"""What every example service shares: serving (ready line, signals), raw-ASGI helpers,
request-id / traceparent propagation and Prometheus metrics.

The examples are started by path (``python examples/NAME/app.py``); each ``app.py`` puts
``examples/`` on ``sys.path`` so this package is importable without installing anything. It
imports nothing from brownout: an example is a system under test, not part of the harness.
"""

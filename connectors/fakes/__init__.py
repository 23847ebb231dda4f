"""What the local provider fakes share (`_server.FakeServer`) and `python -m connectors.fakes`.

Each channel's fake lives in its folder (`connectors/<channel>/fake.py`) and speaks that provider's
wire format. It is started with `await fake.start()` (returns its base URL), records what it was
sent, has switches to inject the provider's failures, and is stopped with `await fake.close()`.
"""

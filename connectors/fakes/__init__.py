"""Local servers that speak each provider's wire format, for tests and the demo.

Each fake is started with `await fake.start()` (returns its base URL), records what it was sent,
has switches to inject the provider's failures, and is stopped with `await fake.close()`.
"""

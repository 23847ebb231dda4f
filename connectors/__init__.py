"""Channel connectors: verify a provider's webhook, turn its body into a Message, send replies back."""

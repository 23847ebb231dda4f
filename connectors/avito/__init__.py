"""Avito Messenger: the pure webhook parser (`parse`); the live connector lives beside it."""

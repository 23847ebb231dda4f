"""Telegram: the pure update parser (`parse`); the live bot connector lives beside it."""

"""Telegram: a bot through the Bot API (aiogram 3)."""

"""MAX (VK's messenger): a bot through the MAX Bot API (dev.max.ru)."""

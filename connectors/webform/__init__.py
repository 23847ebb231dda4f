"""The web form: the pure submission parser (`parse`); the live endpoint lives beside it."""

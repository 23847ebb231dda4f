"""Avito: the messenger of our Avito account, through Avito's REST API."""

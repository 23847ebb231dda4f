"""WhatsApp through Twilio: the pure form-field parser (`parse`); the live connector lives beside it."""

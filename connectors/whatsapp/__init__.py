"""WhatsApp: a business number through Twilio's Messaging API."""

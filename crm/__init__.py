"""CRM push: reacts to what the resolver decided and mirrors it into the user's CRM."""

"""CRM practice on top of identity: leads, repeat flags, routing. Reacts to the resolver; never decides identity."""

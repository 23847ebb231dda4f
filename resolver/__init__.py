"""Identity resolution: which person a message belongs to.

Stages, one module each (the split Splink uses): blocking (candidate profiles) -> comparison
(ordered levels per attribute) -> scoring (weights, thresholds) -> merge (the only place that
merges or splits); `service` runs them per message, `graph` draws and explains the result.
"""

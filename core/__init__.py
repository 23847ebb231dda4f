"""Values, normalization, errors and settings shared by every part of Stitch.

Nothing here imports another Stitch package: this is the bottom of the dependency graph.
"""

"""The rule catalogue: each module registers the rules of one topic with `@rule`.

Every module in this package is imported when the guards first run.
"""

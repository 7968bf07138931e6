"""Metrics RecBole lacks. Importing this package registers them into RecBole's evaluator registries."""

"""Streaming jobs: the reference job (the sample notebook's queries) and the contract users' jobs meet."""

"""Hostile designs (issue 10): the corpus in corpus.yml and the code that reads it (corpus.py)."""

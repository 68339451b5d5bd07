"""Corpus readers: turn a corpus on disk into Utterance records (a manifest)."""

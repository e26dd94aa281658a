"""Answering: the ask path, the extractive composer and its scorer, abstention, citations, the
generative mode."""

"""Measuring: query files and their labels, retrieval and answer metrics, BEIR, reports, readers' feedback."""

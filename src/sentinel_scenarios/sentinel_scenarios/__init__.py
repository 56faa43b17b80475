"""Scripted end-to-end runs of the whole Sentinel system, and their reports."""

"""Simulated CCD frames with exact truth: detector physics, objects, cluster stamps, data sets."""

"""Maskers: detectors of personal data and secrets, composed into a per-request pipeline."""

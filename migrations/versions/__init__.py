"""Revision scripts, oldest first: `NNNN_description.py` with revision "NNNN"."""

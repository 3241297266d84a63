"""Operator scripts: the one-command demo (``python -m scripts.demo``) and its helpers."""

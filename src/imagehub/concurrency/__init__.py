"""Asyncio helpers for work that a cancelled caller must not interrupt halfway.

Owns `run_to_completion`, used wherever money or storage must reach a consistent end even when
the client hangs up. Imports nothing of the hub; every layer may use it.
"""

"""Sandbox-side tools: each module is runnable as ``python -m tools.<name> REQUEST.json RESULT.json``.

Only the standard library and pydantic are imported at module level, so the host can import the request and
result models without the heavy physics stack.
"""

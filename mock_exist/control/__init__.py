"""How a test steers and watches one mock, in plain Python (no Flask): ``MockExist`` (the Python
control API, ``python_api.py``), fault rules, the request journal, state files and the checks of
control-API input.

Imports only ``rules/``; ``http/``'s ``/_mock/`` views call the same methods.
"""

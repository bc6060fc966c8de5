"""`mlplatform serve`: the champion behind an HTTP API (FastAPI on uvicorn).

`champion.py` holds the model the service answers with and follows the registry's `champion`
alias; `app.py` is the API: request validation, the size limit, predictions and health.
"""

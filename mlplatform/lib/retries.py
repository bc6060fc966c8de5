"""Retry policies for steps that talk to a service: transient faults are tried again.

Deterministic failures (a refused model, a moved alias, a rejected batch) raise
`Failure(allow_retries=False)`, so only what may pass on a second try is retried.
"""

from dagster import Backoff, Jitter, RetryPolicy

SERVICE_RETRY_POLICY = RetryPolicy(
    max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)

# Reading the source: an HTTP 5xx or a timeout, quickly retried (a 404 fails at once).
SOURCE_RETRY_POLICY = RetryPolicy(
    max_retries=3, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)

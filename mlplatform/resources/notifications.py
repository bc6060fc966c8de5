"""Notifications: always logged; also posted to a Slack incoming webhook when one is set."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from dagster import ConfigurableResource, get_dagster_logger


class Notifier(ConfigurableResource):
    """Sends platform events (champion changed, regression filed, drift, failures)."""

    slack_webhook_url: str | None = None
    timeout_seconds: float = 10.0

    def notify(self, event: str, message: str) -> None:
        logger = get_dagster_logger()
        logger.info(f"[{event}] {message}")
        if not self.slack_webhook_url:
            return
        body = json.dumps({"text": f"*mlplatform · {event}*\n{message}"}).encode()
        request = urllib.request.Request(
            self.slack_webhook_url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except (urllib.error.URLError, TimeoutError) as error:
            # A notification must never fail the pipeline step that sends it.
            logger.warning(f"Slack notification for {event!r} failed: {error}")


class ReportStore(ConfigurableResource):
    """Writes human-readable reports (e.g. regressions) under a directory."""

    directory: str

    def path(self, name: str) -> Path:
        path = Path(self.directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, name: str, text: str) -> Path:
        path = self.path(name)
        path.write_text(text)
        return path

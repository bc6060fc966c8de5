"""Notifications: always logged; also posted to a Slack incoming webhook when one is set."""

from __future__ import annotations

import json
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
        body = json.dumps({"text": f"*mlplatform · {event}*\n{slack_escaped(message)}"}).encode()
        request = urllib.request.Request(
            self.slack_webhook_url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except Exception as error:
            # A notification must never fail the step that sends it: the decision it reports
            # has already taken effect. Every failure (refused, reset, timed out, bad answer)
            # is logged instead.
            logger.warning(
                f"Slack notification for {event!r} failed ({type(error).__name__}: {error}); "
                "the step goes on"
            )


def slack_escaped(text: str) -> str:
    """`text` as Slack shows it literally: data (check samples, titles) cannot mention a
    channel, link or format (`<!channel>`, `<http://…|…>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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

"""One line per event: logfmt (``ts=… level=… logger=… event=… key=value``) or JSON with ``--log.format json``."""

from __future__ import annotations

import json
import logging
import sys
import time


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        message = record.getMessage()
        if "=" not in message.split(" ", 1)[0]:
            message = f"msg={json.dumps(message, ensure_ascii=False)}"
        line = f"ts={ts} level={record.levelname.lower()} logger={record.name} {message}"
        if record.exc_info:
            line += " exc=" + json.dumps(self.formatException(record.exc_info), ensure_ascii=False)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def reraised_by_botocore(record: logging.LogRecord) -> bool:
    """False for botocore's warning (with a traceback) that a mandatory credentials refresh failed: it raises
    that failure next, and whoever called says it in one line (e.g. ``event=main_credentials_failed``)."""
    return not (record.name == "botocore.credentials"
                and record.getMessage().startswith("Refreshing temporary credentials failed during mandatory"))


def setup(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    handler.addFilter(reraised_by_botocore)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter (botocore's retry debug lines, apscheduler's job lines) stays out unless debugging.
    for noisy in ("botocore", "boto3", "urllib3", "apscheduler", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level != "debug" else logging.INFO)

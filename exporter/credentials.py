"""The main account's credentials: one ``sts:GetCallerIdentity`` at start, what a failure means and what to do
about it, and checking again with a back-off until they work.

A failure is one log line (``event=main_credentials_failed reason=… error=… action=…``), never a traceback:
no credentials, a profile that does not exist, an expired SSO session, an STS endpoint out of reach, or the
AWS error code STS answered with. ``aws_exporter_main_credentials_up`` says the same on ``/metrics``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from botocore.exceptions import (ClientError, ConnectionClosedError, ConnectTimeoutError, CredentialRetrievalError,
                                 EndpointConnectionError, NoCredentialsError, PartialCredentialsError,
                                 ProfileNotFound, ReadTimeoutError, SSOError, TokenRetrievalError)

from exporter.aws import EXPECTED_ERRORS, AwsClients, MalformedResponse, error_code, error_message

log = logging.getLogger(__name__)

BACKOFF_FIRST_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 300.0
UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError, TimeoutError,
               ConnectionError)
# STS's answers for credentials it refuses, by what to do about them.
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
UNKNOWN_KEY_CODES = frozenset({"InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure",
                               "InvalidAccessKeyId"})


@dataclass(frozen=True, slots=True)
class CredentialsProblem:
    """Why the main credentials do not work: a short fixed ``reason``, what is wrong, what to do."""

    reason: str
    error: str
    action: str


def explain(exc: BaseException, region: str) -> CredentialsProblem:
    """The problem behind a failed ``GetCallerIdentity`` (botocore's exception or STS's error code)."""
    detail = error_message(exc)
    if isinstance(exc, NoCredentialsError):
        return CredentialsProblem(
            "NoCredentials", "no AWS credentials found for the main account (environment, shared files, SSO, "
            "container or instance role)", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run "
            "with an instance, task or IRSA role")
    if isinstance(exc, PartialCredentialsError):
        return CredentialsProblem("PartialCredentials", detail,
                                  "set both the access key id and the secret access key (or neither)")
    if isinstance(exc, ProfileNotFound):
        profile = exc.kwargs.get("profile", "")
        return CredentialsProblem(
            "ProfileNotFound", f"the AWS profile {profile!r} is in no AWS config file",
            "set AWS_PROFILE to a profile of ~/.aws/config (or AWS_CONFIG_FILE), or unset it")
    if isinstance(exc, (TokenRetrievalError, SSOError)):
        return CredentialsProblem(
            "SSOTokenExpired", f"the AWS IAM Identity Center (SSO) session has expired or was never started "
            f"({detail})", "run `aws sso login` with the same profile, then restart (or wait for the next check)")
    if isinstance(exc, UNREACHABLE):
        return CredentialsProblem(
            "EndpointUnreachable", f"cannot reach STS in {region}: {detail}",
            "check the network, the proxy (HTTPS_PROXY), AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_STS and the region "
            "(aws.region, AWS_REGION)")
    if isinstance(exc, MalformedResponse):  # an empty or HTML answer: something else than STS answered
        unquoted = detail.removeprefix("MalformedResponse: ")
        return CredentialsProblem(
            "MalformedResponse", f"the answer from STS in {region} is not STS's: {unquoted}",
            "check AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_STS and the proxy (HTTPS_PROXY) in between")
    if isinstance(exc, CredentialRetrievalError):
        return CredentialsProblem("CredentialRetrievalError", detail,
                                  "fix the credential source the message names (credential_process, role, container)")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in EXPIRED_CODES:
            return CredentialsProblem(code, f"the main credentials have expired ({detail})",
                                      "get new ones (a new AWS_SESSION_TOKEN, `aws sso login`), then restart")
        if code in UNKNOWN_KEY_CODES:
            return CredentialsProblem(code, f"AWS does not know the main credentials' access key ({detail})",
                                      "check AWS_ACCESS_KEY_ID or the profile's aws_access_key_id (and its session "
                                      "token), and that it is for this partition")
        if code == "SignatureDoesNotMatch":
            return CredentialsProblem(code, f"the secret access key does not match the access key ({detail})",
                                      "check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key")
        if code.startswith("AccessDenied"):
            return CredentialsProblem(code, f"the main identity may not call sts:GetCallerIdentity ({detail})",
                                      "GetCallerIdentity needs no IAM permission: look for an SCP or a VPC endpoint "
                                      "policy that denies it")
        return CredentialsProblem(code, detail, "see the AWS error code in the STS documentation")
    return CredentialsProblem(type(exc).__name__, detail, "see the error; this exporter's logs at --log.level debug")


def backoff(first: float = BACKOFF_FIRST_SECONDS, most: float = BACKOFF_MAX_SECONDS) -> Iterator[float]:
    """30 s, 60 s, 120 s, 240 s, then every 300 s."""
    delay = first
    while True:
        yield delay
        delay = min(most, delay * 2)


class MainCredentials:
    """The start-up check of the main account's credentials, its outcome in the telemetry."""

    def __init__(self, clients: AwsClients):
        self.clients = clients
        self.identity: tuple[str, str] | None = None  # (account id, ARN) once they worked

    def check(self, retry_in: float | None = None) -> CredentialsProblem | None:
        """One GetCallerIdentity: None when the credentials work, else the problem (logged as one line);
        ``retry_in`` is when the caller will try again (said in the line)."""
        settings = self.clients.settings
        try:
            self.identity = self.clients.caller_identity()
        except Exception as exc:  # noqa: BLE001 - a failed check is a value; only a bug gets a traceback
            problem = explain(exc, settings.region)
            retry = f" retry_in_seconds={retry_in:.0f}" if retry_in is not None else ""
            log.error("event=main_credentials_failed reason=%s error=%r action=%r region=%s%s", problem.reason,
                      problem.error, problem.action, settings.region, retry,
                      exc_info=None if isinstance(exc, EXPECTED_ERRORS) else exc)
            self.clients.stats.main_credentials(False)
            return problem
        account_id, arn = self.identity
        log.info("event=main_credentials_ok account_id=%s arn=%s region=%s region_from=%s", account_id, arn,
                 settings.region, settings.region_source)
        self.clients.stats.main_credentials(True)
        return None

    def wait(self, stop: threading.Event, delays: Callable[[], Iterator[float]] = backoff) -> bool:
        """Check now, then after each delay of the back-off, until the credentials work (True) or ``stop`` is
        set (False)."""
        for delay in delays():
            if stop.is_set():
                return False
            if self.check(retry_in=delay) is None:
                return True
            if stop.wait(delay):
                return False
        return False

"""AWS access: the main account's session, one assumed role per account, cached instrumented clients.

Only this module, :mod:`exporter.answers` and the collectors import boto3/botocore.

* The main account uses the default credential chain (env, shared files, container/instance role).
* Every target account's clients come from one botocore session, each with its role's
  ``DeferredRefreshableCredentials`` (one per role) backed by STS AssumeRole: AssumeRole runs on first use
  and again shortly before expiry (botocore's refresh windows), never per call.
* Clients are cached per (service, role_arn, region); thread-safe, but made one at a time.
* Endpoints come from botocore's own resolution, so ``AWS_ENDPOINT_URL`` and
  ``AWS_ENDPOINT_URL_<SERVICE>`` work for every client, the demo's included.
* Every answer is checked before it is parsed (:mod:`exporter.answers`): one cut short, an HTML page or one of
  the wrong shape is a :class:`MalformedResponse`, counted as that error, never an empty success. botocore's
  own warnings about expected errors lose their traceback (:func:`quiet_library_errors`).
* Every HTTP attempt is counted in :class:`exporter.telemetry.ApiStats` (requests, errors by code,
  throttles, Cost Explorer spend); each request waits for its API's process-wide token bucket, and a throttle is
  waited out through that bucket rather than botocore's back-off (:mod:`exporter.ratelimit`).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import (BotoCoreError, ClientError, CredentialRetrievalError,
                                 NoCredentialsError, PartialCredentialsError, ProfileNotFound,
                                 RefreshWithMFAUnsupportedError, SSOError, TokenRetrievalError)

from exporter.answers import MalformedResponse, checked_answers, cut_short, malformed_after_call, reads_answer
from exporter.config import Account, AwsSettings
from exporter.partitions import cost_explorer_region, sts_region  # noqa: F401 (cost_explorer_region: re-exported)
from exporter.ratelimit import MAX_THROTTLE_RETRIES, RateLimits, is_loopback
from exporter.spend import spend_budget
from exporter.telemetry import ApiStats, is_throttle

log = logging.getLogger(__name__)

# Failures AWS, credentials, the network or a malformed answer cause: logged as one line, without a traceback.
EXPECTED_ERRORS = (ClientError, BotoCoreError, TimeoutError, ConnectionError, MalformedResponse)


def error_code(exc: BaseException) -> str:
    """A short, bounded name for an AWS failure, fit for a label and a log line."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


MAX_ERROR_LENGTH = 400


def error_message(exc: BaseException) -> str:
    """One bounded line, no secrets: botocore messages carry codes and request text, never credentials."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or ""
        text = f"{error_code(exc)}: {message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split()).rstrip(":")
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


# Credentials missing, unreadable, expired or refused: any other endpoint of the service answers the same.
CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, ProfileNotFound, SSOError,
                     TokenRetrievalError, RefreshWithMFAUnsupportedError)
CREDENTIAL_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken",
    "ExpiredTokenException", "SignatureDoesNotMatch", "MissingAuthenticationToken", "IncompleteSignature",
})
CREDENTIAL_OPERATIONS = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "GetRoleCredentials",
                                   "CreateToken", "GetCallerIdentity"})


def is_credential_error(exc: BaseException) -> bool:
    """True for a failure of the credentials rather than of the service: none found, a profile that is not
    there, an expired SSO token, an AssumeRole that failed (whatever its code), a key AWS refuses."""
    if isinstance(exc, CREDENTIAL_ERRORS):
        return True
    if isinstance(exc, MalformedResponse):  # STS's answer, not the service's
        return exc.operation in CREDENTIAL_OPERATIONS
    return isinstance(exc, ClientError) and (exc.operation_name in CREDENTIAL_OPERATIONS
                                             or error_code(exc) in CREDENTIAL_CODES)


class _RoleSession(botocore.session.Session):
    """One botocore session for the clients of every role: its handlers, endpoint data, parser factory and
    service models are made once, not once per role (that was ~a quarter of each client's memory). A client
    keeps the credentials it was created with (:meth:`client_as`); the session holds none."""

    def __init__(self, data_loader: Any, region: str):
        super().__init__()
        self.register_component("data_loader", data_loader)  # the main session's parsed service models
        checked_answers(self)
        self._creating = threading.local()
        self._boto3 = boto3.Session(botocore_session=self, region_name=region)

    def get_credentials(self) -> Any:
        return getattr(self._creating, "credentials", None)  # those of the client being created on this thread

    def client_as(self, credentials: DeferredRefreshableCredentials, service: str, region: str,
                  config: BotoConfig) -> Any:
        self._creating.credentials = credentials
        try:
            return self._boto3.client(service, region_name=region, config=config)
        finally:
            self._creating.credentials = None


class AwsClients:
    """Hands out cached, instrumented boto3 clients for the main account and each configured account."""

    def __init__(self, settings: AwsSettings, stats: ApiStats | None = None,
                 base_session: boto3.Session | None = None, clock: Callable[[], Any] | None = None):
        """``clock`` (tests only) replaces botocore's clock that decides when assumed-role credentials are refreshed."""
        self.settings = settings
        self._clock = clock
        self.stats = stats or ApiStats()
        self._base = base_session  # made on first use: a missing AWS_PROFILE raises, and is retried then
        if base_session is not None:
            checked_answers(base_session._session)
        quiet_library_errors()
        self.rate_limits = RateLimits(dict(settings.rate_limits), settings.max_requests_per_second)
        self.budget = spend_budget(settings.spend_limits, self.stats)  # aws.spend_limits; None = no cap
        self._config = BotoConfig(
            # first try included; "standard", not "adaptive": the process-wide buckets (exporter.ratelimit) pace
            # every account's client, where adaptive mode's limiter per client sees only its own account.
            retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            user_agent_appid="aws-ops-exporter",
            max_pool_connections=max(10, settings.concurrency * 2),
        )
        self._lock = threading.RLock()
        # Clients cost ~0.4 MiB each once used (botocore copies its handlers and builds a class per client),
        # so at most client_cache_size are kept, least recently used first out. A pass visits each account's
        # clients once, so a fleet with more clients than that re-creates them on each pass (~25 ms each,
        # against Cost Explorer's 1 request a second): the default 200 keeps a 50-account fleet's. Credentials
        # are tiny and kept per role for the process's life, so an evicted client never costs an extra AssumeRole.
        self._clients: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._credentials: dict[str, DeferredRefreshableCredentials] = {}
        self._roles: _RoleSession | None = None

    @property
    def base(self) -> boto3.Session:
        """The main account's session (the default credential chain), in the main region."""
        with self._lock:
            if self._base is None:
                session = boto3.Session(region_name=self.settings.region)
                # STS at the region's own endpoint (sts.<region>.amazonaws.com[.cn]), never the global one.
                session._session.set_config_variable("sts_regional_endpoints", "regional")
                checked_answers(session._session)
                self._base = session
            return self._base

    # -------------------------------------------------------------------------------------- clients

    def main(self, service: str, region: str | None = None) -> Any:
        """A client in the main account (the exporter's own credentials)."""
        region = region or self.settings.region
        return self._cached(service, "", region, lambda: self.base.client(service, region_name=region,
                                                                           config=self._config))

    def for_account(self, account: Account, service: str, region: str | None = None) -> Any:
        """A client in ``account``, through its role (AssumeRole happens lazily, once per lifetime)."""
        return self.in_role(account.role_arn, account.external_id, service, region, session_tag=account.id)

    def in_role(self, role_arn: str | None, external_id: str | None, service: str, region: str | None = None,
                session_tag: str = "") -> Any:
        """A client through ``role_arn`` (e.g. the organization's role), or the main account's when None;
        ``session_tag`` ends the RoleSessionName (CloudTrail shows it)."""
        if not role_arn:
            return self.main(service, region)
        region = region or self.settings.region
        return self._cached(service, role_arn, region, lambda: self._role_session().client_as(
            self._role_credentials(role_arn, external_id, session_tag), service, region, self._config))

    def forget(self, role_arns: Iterable[str]) -> None:
        """Drop the credentials and clients of these roles (a config reload changed their external id, or no
        longer uses them): the next client assumes the role again."""
        roles = set(role_arns)
        with self._lock:
            for role_arn in roles:
                self._credentials.pop(role_arn, None)
            for key in [k for k in self._clients if k[1] in roles]:
                del self._clients[key]

    def _cached(self, service: str, role_arn: str, region: str, create: Callable[[], Any]) -> Any:
        key = (service, role_arn, region)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            client = create()
            self._instrument(client)
            self._clients[key] = client
            while len(self._clients) > self.settings.client_cache_size:
                self._clients.popitem(last=False)
        return client

    def _instrument(self, client: Any) -> None:
        events = client.meta.events
        service = client.meta.service_model.service_name
        self._rate_limit(client)
        if self.budget is not None:  # before the request is built: a gated request is never sent
            events.register("before-parameter-build",
                            lambda model, params, **_: self.budget.check(service, model.name, params))

        def on_response(parsed_response: Any = None, context: Any = None, exception: Any = None,
                        response_dict: Any = None, **kwargs: Any) -> None:
            operation = kwargs.get("event_name", "").rsplit(".", 1)[-1]
            error = None
            if exception is not None:  # a body cut short is a malformed answer, however botocore reports it
                error = "MalformedResponse" if cut_short(exception) else type(exception).__name__
            elif response_dict is not None and response_dict.get("status_code", 200) >= 300:
                error = (parsed_response or {}).get("Error", {}).get("Code") or f"HTTP{response_dict['status_code']}"
            self.stats.record(service, operation, error)

        events.register("response-received", on_response)
        events.register("after-call-error", functools.partial(malformed_after_call, self.stats, service))

    def _rate_limit(self, client: Any) -> None:
        """Each request waits for its API's token; a throttled one is retried through the bucket (exporter.ratelimit)."""
        service = client.meta.service_model.service_name
        stand_in = is_loopback(client.meta.endpoint_url)

        def before_send(event_name: str = "", **_: Any) -> None:
            bucket = self.rate_limits.bucket(service, event_name.rsplit(".", 1)[-1], stand_in)
            if bucket is not None:
                bucket.acquire()

        def on_throttle(response: Any = None, operation: Any = None, request_dict: Any = None, **_: Any) -> Any:
            code = ((response or (None, {}))[1] or {}).get("Error", {}).get("Code", "")
            bucket = self.rate_limits.bucket(service, operation.name, stand_in) if operation is not None else None
            if bucket is None or not is_throttle(str(code)):
                return None  # botocore's retry decides
            bucket.throttled()
            context = request_dict.setdefault("context", {})
            context["throttles"] = context.get("throttles", 0) + 1
            return 0 if context["throttles"] <= MAX_THROTTLE_RETRIES else None  # 0 s: before_send does the waiting

        client.meta.events.register("before-send", before_send)
        client.meta.events.register_first(f"needs-retry.{client.meta.service_model.service_id.hyphenize()}",
                                          on_throttle)

    # -------------------------------------------------------------------------------- role sessions

    def _role_credentials(self, role_arn: str, external_id: str | None,
                          session_tag: str) -> DeferredRefreshableCredentials:
        """The role's refreshable credentials, made once per role (called under the lock, on a cache miss)."""
        credentials = self._credentials.get(role_arn)
        if credentials is None:
            credentials = DeferredRefreshableCredentials(
                refresh_using=lambda: self._assume_role(role_arn, external_id, session_tag), method="assume-role",
                **({"time_fetcher": self._clock} if self._clock else {}))
            self._credentials[role_arn] = credentials
        return credentials

    def _role_session(self) -> _RoleSession:
        """The one session every role's clients are made from (called under the lock)."""
        if self._roles is None:
            self._roles = _RoleSession(self.base._session.get_component("data_loader"), self.settings.region)
        return self._roles

    # ------------------------------------------------------------------------ checks (no client cached)

    def caller_identity(self) -> tuple[str, str]:
        """The main credentials' (account id, ARN) from one sts:GetCallerIdentity in the main region, tried
        twice at most (a start-up check says what is wrong at once; its caller retries on its own schedule)."""
        with self._lock:
            client = self.base.client("sts", region_name=self.settings.region, config=self._config.merge(
                BotoConfig(retries={"mode": "standard", "total_max_attempts": 2})))
            self._instrument(client)
        answer = client.get_caller_identity()  # a page that is not STS's is a MalformedResponse (checked_answers)
        if not answer.get("Account") or not answer.get("Arn"):
            raise MalformedResponse("answered without Account and Arn", "GetCallerIdentity")
        return str(answer["Account"]), str(answer["Arn"])

    def try_assume_role(self, role_arn: str, external_id: str | None, session_tag: str) -> None:
        """One AssumeRole into ``role_arn`` as the collectors would, credentials thrown away (``--check-credentials``)."""
        self._assume_role(role_arn, external_id, session_tag)

    def _assume_role(self, role_arn: str, external_id: str | None, session_tag: str) -> dict[str, str]:
        kwargs: dict[str, Any] = {
            "RoleArn": role_arn,
            # Shows up in the account's CloudTrail: who assumed the role and on behalf of which account.
            "RoleSessionName": f"{self.settings.role_session_name}-{session_tag}"[:64].rstrip("-"),
        }
        if external_id:
            kwargs["ExternalId"] = external_id
        credentials = assumed_credentials(self.main("sts", sts_region(role_arn, self.settings.region)).assume_role(**kwargs))
        log.debug("event=assume_role role_arn=%s expires=%s", role_arn, credentials["expiry_time"])
        return credentials


@reads_answer("AssumeRole")
def assumed_credentials(response: Mapping[str, Any]) -> dict[str, str]:
    """AssumeRole's answer → what botocore's refreshable credentials are made of."""
    creds = response["Credentials"]
    return {
        "access_key": creds["AccessKeyId"],
        "secret_key": creds["SecretAccessKey"],
        "token": creds["SessionToken"],
        "expiry_time": creds["Expiration"].isoformat(),
    }


# ----------------------------------------------------------------------------------- malformed answers


class _LibraryErrorLines(logging.Filter):
    """botocore logs some failures it then raises, or copes with, at warning level with their traceback. For
    an expected error (credentials, AWS, the network): no traceback, the reason in one ``error=`` field, and
    nothing at all for a failed mandatory refresh (it is raised, and the collector logs it for its account).
    Any other exception keeps its traceback: that is a bug."""

    RERAISED = ("Refreshing temporary credentials failed", "Refreshing token failed")

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not isinstance(exc, EXPECTED_ERRORS):
            return True
        if str(record.msg).startswith(self.RERAISED) and "mandatory" in (record.args or ()):
            return False
        original = " ".join(record.getMessage().split())
        record.msg = "msg=%s error=%r"
        record.args = (json.dumps(original, ensure_ascii=False), error_message(exc))
        record.exc_info = record.exc_text = None
        return True


LIBRARY_LOGGERS = ("botocore.credentials", "botocore.tokens", "botocore.utils", "botocore.endpoint",
                   "botocore.httpsession", "botocore.retryhandler")


def quiet_library_errors() -> None:
    """Installs :class:`_LibraryErrorLines` on the botocore loggers that log exceptions (once per process)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LibraryErrorLines) for f in logger.filters):
            logger.addFilter(_LibraryErrorLines())

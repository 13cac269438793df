"""Configuration: YAML in, frozen dataclasses out, validated once at start.

This is the only package that reads YAML or environment variables. Every problem in a config file is
collected with its path (``accounts[2].role_arn: not an IAM role ARN``) and reported at once, so a
user fixes a file in one pass instead of one error per restart.

Each top-level section is parsed by its own function over a :class:`Section`, which tracks the path,
rejects unknown keys (typos) and records problems instead of raising. The modules, each depending only
on those above it:

- :mod:`~exporter.config.model`: the exporter's frozen settings (:class:`Config` and its parts)
- :mod:`~exporter.config.validate`: :class:`Section`, :class:`ConfigError` and the shared value rules
- :mod:`~exporter.config.cloudwatch`: the CloudWatch keys and queries the collector and accounts share
- :mod:`~exporter.config.accounts`, :mod:`~exporter.config.organization`, :mod:`~exporter.config.collectors`,
  :mod:`~exporter.config.process`, :mod:`~exporter.config.shard`: the exporter's sections
- :mod:`~exporter.config.reporter`: the reporter sidecar's section and settings, secrets resolved apart
- :mod:`~exporter.config.textfile`: a file's bytes → UTF-8 text within the size limit, or the one problem
- :mod:`~exporter.config.yamlload`: text → data, strictly (duplicate keys) and within the depth and alias limits,
  with libyaml when PyYAML has it
- :mod:`~exporter.config.loading`: :func:`parse`, :func:`load` and ``read_document`` (a file's YAML, checked)
- :mod:`~exporter.config.webconfig`: the ``--web.config.file`` (TLS, basic auth, headers), read the same way

This module only re-exports the package's interface: the model, the validation kit, :func:`parse` and
:func:`load`.
"""

from exporter.config.loading import load, parse
from exporter.config.model import (Account, AwsSettings, Budgets, CloudWatchOverride, CloudWatchQuery, CloudWatchScope,
                                   CloudWatchSettings, Collectors, Config, CostSettings, HealthSettings, LogSettings,
                                   OrganizationSettings, ShardSettings, WebSettings)
from exporter.config.validate import (ACCOUNT_ID_RE, ENV_NAME_RE, EXTERNAL_ID_RE, REGION_RE, ROLE_ARN_RE, ConfigError,
                                      Section, parse_duration, parse_listen_address)
from exporter.config.webconfig import TlsSettings, WebConfig, load_web_config

__all__ = [
    "ACCOUNT_ID_RE", "ENV_NAME_RE", "EXTERNAL_ID_RE", "REGION_RE", "ROLE_ARN_RE", "Account", "AwsSettings", "Budgets",
    "CloudWatchOverride", "CloudWatchQuery", "CloudWatchScope", "CloudWatchSettings", "Collectors", "Config",
    "ConfigError", "CostSettings", "HealthSettings", "LogSettings", "OrganizationSettings", "Section", "ShardSettings", "WebSettings",
    "TlsSettings", "WebConfig", "load", "load_web_config", "parse",
    "parse_duration", "parse_listen_address",
]

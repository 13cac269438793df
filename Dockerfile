# One image for both processes: aws-ops-exporter (default command) and aws-ops-reporter.
# No credentials in the image: the exporter uses the default AWS chain at run time (environment,
# a mounted ~/.aws profile, or the container/instance role).
#
# Targets (the default is the last one, the production image):
#   demo     the same image plus the [demo] extra (moto's server), so `docker compose --profile demo up`
#            needs no AWS account; compose builds it with `target: demo`
#   runtime  aws-ops-exporter and its dependencies only: no moto
# Both install from one resolution of '.[demo]' in the build stage, with no index: the same versions in
# each, and the runtime image takes only the wheels it needs. The wheels are bind-mounted from the build
# stage (BuildKit, Docker's default builder), so no layer of either image keeps them.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY aws_ops_demo ./aws_ops_demo
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[demo]'

FROM python:3.11-slim AS base
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/app app \
 && mkdir -p /home/app/data /etc/aws-ops \
 && chown app:app /home/app/data
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/app
# /metrics of the exporter and of the reporter
EXPOSE 9780 9781
# The reporter's SQLite history (reporter.database defaults to data/aws-ops.db under WORKDIR).
VOLUME ["/home/app/data"]
CMD ["aws-ops-exporter", "--config", "/etc/aws-ops/config.yaml"]

FROM base AS demo
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "$(echo /wheels/aws_ops_exporter-*.whl)[demo]"
USER 10001:10001

FROM base AS runtime
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels /wheels/aws_ops_exporter-*.whl
USER 10001:10001

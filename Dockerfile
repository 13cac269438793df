# One image for both processes: aws-ops-exporter (default command) and aws-ops-reporter.
# No credentials in the image: the exporter uses the default AWS chain at run time (environment,
# a mounted ~/.aws profile, or the container/instance role). The [demo] extra (moto's server) is
# included so `docker compose --profile demo up` needs no AWS account.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY aws_ops_demo ./aws_ops_demo
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[demo]'

FROM python:3.11-slim
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/app app \
 && mkdir -p /home/app/data /etc/aws-ops \
 && chown app:app /home/app/data
COPY --from=build /wheels /wheels
# Exactly the wheels the build stage resolved for '.[demo]': no index, nothing resolved twice.
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /home/app
# /metrics of the exporter and of the reporter
EXPOSE 9780 9781
# The reporter's SQLite history (reporter.database defaults to data/aws-ops.db under WORKDIR).
VOLUME ["/home/app/data"]
CMD ["aws-ops-exporter", "--config", "/etc/aws-ops/config.yaml"]

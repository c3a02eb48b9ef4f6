# One stateless hub: N of these behind a load balancer share PostgreSQL, Redis and an S3 bucket
# (see README, "Scaling out", and deploy/compose.yaml). Nothing in the container needs to outlive it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install '.[s3]' && useradd --system --uid 10001 --home-dir /data imagehub \
    && mkdir -p /data && chown imagehub /data

USER imagehub
# Only the usage journal and (without IMAGEHUB_SIGNING_SECRET) a signing secret live here; with
# an s3:// store and PostgreSQL nothing in it needs to survive the container.
ENV IMAGEHUB_DATA_DIR=/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
# One worker per core the container gets; each holds thousands of requests in flight.
CMD ["sh", "-c", "exec imagehub serve --host 0.0.0.0 --port 8080 --workers ${IMAGEHUB_WORKERS:-2}"]

# airelay in a container: a non-root user, the locked dependencies only, a health check.
#   docker build -t airelay .
#   docker run -p 8080:8080 -e AIRELAY_SECRET_KEY=... -e AIRELAY_ADMIN_KEY=mgmt-... airelay
# See deploy/ for several instances on PostgreSQL and Redis behind a load balancer.
FROM python:3.11-slim-bookworm AS build
# --build-arg AIRELAY_COMPILED=1 compiles the hot modules with mypyc (setup.py says when that
# pays); then a C compiler is needed here, and is not in the image.
ARG AIRELAY_COMPILED=0
ENV AIRELAY_COMPILED=$AIRELAY_COMPILED
RUN if [ "$AIRELAY_COMPILED" = 1 ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends gcc libc6-dev \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY requirements/build.lock requirements/main.lock requirements/
RUN python -m venv /opt/airelay \
 && /opt/airelay/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/build.lock \
 && /opt/airelay/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/main.lock
COPY pyproject.toml setup.py README.md ./
COPY src src
# The compiler's own packages (mypy) leave once the build is done: nothing imports them.
RUN /opt/airelay/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
 && /opt/airelay/bin/pip uninstall --yes mypy ast-serialize librt pathspec mypy-extensions \
 && find /opt/airelay -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/airelay --create-home airelay
COPY --from=build /opt/airelay /opt/airelay
ENV PATH=/opt/airelay/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRELAY_HOST=0.0.0.0 \
    AIRELAY_PORT=8080 \
    AIRELAY_DATA_DIR=/var/lib/airelay
USER airelay
WORKDIR /var/lib/airelay
VOLUME /var/lib/airelay
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('AIRELAY_PORT', '8080'), timeout=2)"]
CMD ["airelay", "serve"]

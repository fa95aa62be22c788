# One image for the worker and the operator: `queuefleet worker ...` / `queuefleet operator ...`.
# Runs as a numeric non-root user and needs no writable root filesystem (mount /tmp).
#
# BASE_IMAGE: any Python 3.11 on Debian bookworm with `python3 -m venv`. The default is the
# official slim image, pinned by digest; without a registry, `make images` passes one built
# from Debian's packages (images/python). Dependencies come from requirements/*.lock with
# hashes only (`make lock` regenerates them), so two builds install the same files.
ARG BASE_IMAGE=python:3.11.7-slim-bookworm@sha256:d11b9bd5e49ea7401753d78f4d3b56f3aec952b85b49bcae88981f0452818e0b

FROM ${BASE_IMAGE} AS build
# PEM certificates pip should trust besides the base's, for networks that intercept TLS
# (only this build stage sees them; the image does not).
ARG PIP_EXTRA_CA_CERTS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/ requirements/
RUN if [ -n "$PIP_EXTRA_CA_CERTS" ]; then \
      cat /etc/ssl/certs/ca-certificates.crt > /tmp/pip-ca.pem \
      && printf '%s\n' "$PIP_EXTRA_CA_CERTS" >> /tmp/pip-ca.pem \
      && export PIP_CERT=/tmp/pip-ca.pem; \
    fi \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --quiet --no-deps --require-hashes -r requirements/build.lock \
 && python3 -m venv /opt/queuefleet \
 && /opt/queuefleet/bin/pip install --quiet --no-deps --require-hashes -r requirements/image.lock
COPY pyproject.toml README.md ./
COPY cli/ cli/
COPY worker/ worker/
COPY operator/ operator/
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
 && /opt/queuefleet/bin/pip install --quiet --no-deps /tmp/wheels/*.whl \
 && /opt/queuefleet/bin/python -m compileall -q /opt/queuefleet/lib

FROM ${BASE_IMAGE}
# tini as PID 1: the kernel drops a signal sent to PID 1 that has no handler, and Python
# installs its handlers a moment after start, so a pod scaled away at once ignored SIGTERM
# and was killed at the end of its grace period. Under tini a SIGTERM that comes that early
# stops the process at once; `-e 143` reports that stop as the clean exit it is.
ARG TINI_VERSION=0.19.0-1+b3
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "tini=${TINI_VERSION}" >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="queuefleet" \
      org.opencontainers.image.description="Temporal worker fleets on Kubernetes: worker runtime and operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://queuefleet.dev"
ENV PATH=/opt/queuefleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/queuefleet /opt/queuefleet
USER 10001:10001
EXPOSE 8080 9464
ENTRYPOINT ["tini", "-e", "143", "--", "queuefleet"]
CMD ["worker"]

# One image for the worker and the operator: `queuefleet worker ...` / `queuefleet operator ...`.
# Runs as a numeric non-root user and needs no writable root filesystem (mount /tmp).
ARG PYTHON_VERSION=3.11.7

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/queuefleet
COPY pyproject.toml README.md ./
COPY worker/ worker/
COPY operator/ operator/
RUN /opt/queuefleet/bin/pip install . \
 && /opt/queuefleet/bin/python -m compileall -q /opt/queuefleet/lib

FROM python:${PYTHON_VERSION}-slim-bookworm
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
ENTRYPOINT ["queuefleet"]
CMD ["worker"]

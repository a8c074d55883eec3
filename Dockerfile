# crmsync with the four bundled connectors. Multi-stage: uv builds the environment, the runtime image holds only
# the virtualenv and runs as an unprivileged user. One image for every role: worker, schedule, serve, run.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv
# the environment is built where it will run: its scripts name their interpreter by absolute path
ENV UV_PROJECT_ENVIRONMENT=/opt/crmsync
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
COPY connectors ./connectors
RUN uv sync --frozen --no-dev --all-packages --no-editable

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 crmsync
COPY --from=build /opt/crmsync /opt/crmsync
COPY mappings /etc/crmsync/mappings
ENV PATH=/opt/crmsync/bin:$PATH CRMSYNC_CONFIG=/etc/crmsync/crmsync.toml PYTHONUNBUFFERED=1
USER crmsync
WORKDIR /home/crmsync
EXPOSE 8080 9100
# health: the roles answer /healthz on their --http-port (see compose.yaml)
ENTRYPOINT ["crmsync", "--log-format", "json", "--log-level", "info"]
CMD ["worker", "--host", "0.0.0.0", "--http-port", "9100"]

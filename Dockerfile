# The one image of Open Dealer: every process in compose.yaml runs it with another command
# (od api, od worker, od scheduler, od streams apply && od migrate).
#
#   docker build -t open-dealer .
#   docker run --rm -e OD_NATS_URL=... -e OD_DATABASE_URL=... open-dealer od worker

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY od ./od
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 OD_LOG_FORMAT=json
RUN useradd --create-home --uid 10001 od
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# `od` finds streams.yaml and migrations/ in its working directory.
WORKDIR /app
COPY streams.yaml ./
COPY migrations ./migrations
COPY examples ./examples
USER od
EXPOSE 8000
CMD ["od", "api", "--host", "0.0.0.0", "--port", "8000"]

# One image for every Arbiter process: `arbiter serve SERVICE` and the kopf operator.
# Build: docker build -t arbiter .   (skaffold builds it for `skaffold dev`)

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY . .
# The build backend generates arbiter.v1 from protos/ (setup.py runs tools/gen_protos.py with
# the grpcio-tools pinned in pyproject.toml's build-system), so a plain install is complete.
RUN pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --gid 10001 arbiter \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin arbiter
COPY --from=build /opt/venv /opt/venv
# The package directory belongs to the app user only so `skaffold dev` can sync *.py into
# it (chart value devSync); production pods mount the root filesystem read-only anyway.
RUN chown -R 10001:10001 /opt/venv/lib/python3.11/site-packages/arbiter
USER 10001:10001
EXPOSE 8080 50051
ENTRYPOINT ["arbiter"]
CMD ["--help"]

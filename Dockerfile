# Trimtab operator image: built in one stage, run from a slim one as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml constraints.txt README.md ./
COPY operator ./operator
RUN python -m venv /opt/trimtab \
 && /opt/trimtab/bin/pip install -c constraints.txt .

FROM python:3.11-slim
COPY --from=build /opt/trimtab /opt/trimtab
RUN groupadd --gid 10001 trimtab \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin trimtab
USER 10001:10001
ENV PATH=/opt/trimtab/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8080 9443
ENTRYPOINT ["trimtab"]
CMD ["run"]

# One image for both roles of s3lite: the command picks `gateway` or `node`, and every setting
# comes from the environment as S3LITE_<OPTION> (see conf/s3lite.conf). The cluster token is
# never part of the image: give it as S3LITE_CLUSTER_TOKEN when the container starts.
#
#   docker build -t s3lite .
#   docker run -e S3LITE_CLUSTER_TOKEN=... -e S3LITE_ACCESS_KEY=... -e S3LITE_SECRET_KEY=... \
#     -p 8000:8000 s3lite gateway
#
# The base is a build argument: any Debian-like image with Python 3.11 or newer and its venv
# module will do (`--build-arg BASE=...`). The build stage installs from PyPI. To build without
# it, with podman or buildah: mount a directory of wheels (`--volume DIR:/wheels:ro`) and give
# `--build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels`; pip reads both from the
# environment, where build arguments are. The wheels include setuptools, which builds s3lite.
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
ARG PIP_NO_INDEX=0
ARG PIP_FIND_LINKS=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY . /src
# PEP 517 isolation builds s3lite with its own setuptools, whatever the base's pip has.
RUN python3 -m venv /opt/s3lite \
    && /opt/s3lite/bin/pip install --use-pep517 /src \
    && /opt/s3lite/bin/pip uninstall --yes pip setuptools \
    && /opt/s3lite/bin/s3lite --help >/dev/null

FROM ${BASE}
# Only the virtual environment comes over: no pip, no compilers, no source tree.
COPY --from=build /opt/s3lite /opt/s3lite
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin s3lite
ENV PATH=/opt/s3lite/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    S3LITE_HOST=0.0.0.0
USER 10001:10001
# The gateway's port and the node's; compose.yaml publishes only the gateway's.
EXPOSE 8000 8101
ENTRYPOINT ["s3lite"]
CMD ["--help"]

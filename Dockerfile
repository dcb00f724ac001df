# prodcat's pipeline image: every Kubeflow / Vertex step, Vertex training workers, and the Beam
# SDK harness for Dataflow / Flink / Spark workers run it.
#
#   docker build -t REGISTRY/prodcat:$(git rev-parse --short HEAD) .
#   docker build --build-arg WITH_CUDA=true -t REGISTRY/prodcat:$(git rev-parse --short HEAD)-gpu .
#
# Installs exactly requirements.lock (the lock `make` uses), then the project, both --no-deps.
# Build the image from the same commit you compile the pipeline from: the compiled spec names
# prodcat's functions by import path and carries a fingerprint of this source tree.

ARG PYTHON_IMAGE=python:3.10-slim-bookworm
# Must match apache-beam in requirements.lock.
ARG BEAM_VERSION=2.59.0

# ---------------------------------------------------------------- build: the virtualenv
FROM ${PYTHON_IMAGE} AS build
# pyfarmhash and crcmod have no wheels for this platform and compile C/C++ extensions.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
# uv, as `make setup` installs the lock locally (pinned here for reproducible builds).
RUN pip install --no-cache-dir uv==0.13.8
ENV VIRTUAL_ENV=/opt/venv UV_LINK_MODE=copy
# --seed: pip in the venv, which Beam's boot uses for staged packages on workers.
RUN uv venv --seed --python /usr/local/bin/python3.10 ${VIRTUAL_ENV}
ENV PATH=${VIRTUAL_ENV}/bin:${PATH}

WORKDIR /src
COPY requirements.lock ./
RUN uv pip install --no-cache --no-deps -r requirements.lock

# GPU image: the CUDA/cuDNN wheels TensorFlow pins for its `and-cuda` extra (not in the lock,
# which is CPU-only); the GPU driver comes from the node.
ARG WITH_CUDA=false
RUN if [ "${WITH_CUDA}" = "true" ]; then \
      python -c "import importlib.metadata as m; print('\n'.join(r.split(';')[0].replace(' ', '') for r in m.requires('tensorflow') if 'and-cuda' in r))" > /tmp/cuda.txt \
      && uv pip install --no-cache --no-deps -r /tmp/cuda.txt; \
    fi

COPY pyproject.toml README.md ./
COPY prodcat/ prodcat/
COPY contract/ contract/
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
COPY serving/ serving/
COPY kubeflow/ kubeflow/
COPY reporting/ reporting/
COPY review/ review/
COPY benchmarks/ benchmarks/
RUN uv pip install --no-cache --no-deps . \
 && python -c "import prodcat.pipeline.pipeline, prodcat.trainer.run, prodcat.components.product_example_gen"

# ---------------------------------------------------------------- runtime
FROM apache/beam_python3.10_sdk:${BEAM_VERSION} AS beam
FROM ${PYTHON_IMAGE}
COPY --from=build /opt/venv /opt/venv
# Beam's SDK harness launcher, for Dataflow custom containers and Flink/Spark DOCKER environments.
COPY --from=beam /opt/apache/beam /opt/apache/beam
# TF_USE_LEGACY_KERAS: importing prodcat sets it, but TFX's container entrypoint imports
# TensorFlow before any prodcat module, so the image sets it too.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONHASHSEED=0 \
    PYTHONUNBUFFERED=1 \
    RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1
WORKDIR /home/prodcat
# TFX writes each container's command into the compiled spec (KFP: `python -m
# tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`; Vertex training:
# `python -m tfx.scripts.run_executor`), so the entrypoint is only used by Beam workers, which
# need Beam's boot program.
ENTRYPOINT ["/opt/apache/beam/boot"]

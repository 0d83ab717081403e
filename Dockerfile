# CPU image of livefilter: `livefilter serve /etc/livefilter/site.yaml` (the CPU face engine;
# SAM3 needs a CUDA base image and the gated weights, not this one).
#   docker build -t livefilter .
#   docker run --rm -v $PWD/configs/site.yaml:/etc/livefilter/site.yaml:ro livefilter
FROM python:3.12-slim

# OpenCV's runtime libraries; no compilers stay in the image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# The CPU build of torch first, or pip would pull a multi-GB CUDA build.
RUN pip install --no-cache-dir torch==2.14.1 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /src
COPY pyproject.toml README.md ./
COPY livefilter ./livefilter
RUN pip install --no-cache-dir ".[daemon]" && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /var/lib/livefilter --create-home livefilter \
    && mkdir -p /var/log/livefilter /etc/livefilter \
    && chown livefilter /var/log/livefilter
USER livefilter
WORKDIR /var/lib/livefilter
# MALLOC_ARENA_MAX=2: ~30 MB per camera instead of ~110 MB (glibc heaps per thread; bench_daemon.py)
ENV PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 MALLOC_ARENA_MAX=2

EXPOSE 8089
# /healthz needs no token; it answers on the container's loopback even when http.host is 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8089/healthz', timeout=4)"
# SIGTERM drains every camera and finalises files: give it time (docker stop -t 60).
STOPSIGNAL SIGTERM
ENTRYPOINT ["livefilter"]
CMD ["serve", "/etc/livefilter/site.yaml"]

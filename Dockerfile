# openclb in a container: the wheel built from this checkout, installed into python:3.11-slim.
#
#   docker build -t openclb .
#   docker run --rm -p 9180:9180 -v openclb-data:/data openclb              # prints its key pair once
#   docker run --rm -p 9180:9180 -e OPENCLB_SECRET_ID=AKID... -e OPENCLB_SECRET_KEY=... openclb serve \
#       --listen 0.0.0.0:9180 --data-dir /data --faults                     # a test-suite server
#
# The API answers on 9180. Listeners bind on VIPs from --vip-pool (default 127.1.0.0/16: loopback
# inside the container), so their traffic is reachable from inside the container (or with
# --network host); the SDK, tccli and Terraform only need the API port.

FROM python:3.11-slim AS build
# gcc builds the compiled access-log recorder (optional: without it the wheel is pure Python).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY openclb ./openclb
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
RUN useradd --system --create-home --home-dir /home/openclb openclb \
    && mkdir /data && chown openclb /data && chmod 0700 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER openclb
VOLUME /data
EXPOSE 9180
ENTRYPOINT ["openclb"]
CMD ["serve", "--listen", "0.0.0.0:9180", "--data-dir", "/data"]

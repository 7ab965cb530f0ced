# One image for the four kehu services and the console; the command picks which one runs:
#   docker run kehu serve orders        (contacts | orders | tickets | insights | console)
# compose.yaml and deploy/k8s/ use it this way.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first (their own layer, rebuilt only when the pins change), at the versions of
# constraints.txt. README.m[d] copies the README when there is one (the package's long description).
COPY pyproject.toml constraints.txt README.m[d] ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt

COPY shared/ shared/
COPY services/ services/
COPY kehu/ kehu/
COPY console/ console/
RUN pip install -c constraints.txt .


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KEHU_HOME=/home/kehu/.kehu \
    KEHU_HOST=0.0.0.0

RUN groupadd --system --gid 10001 kehu \
    && useradd --system --uid 10001 --gid kehu --home-dir /home/kehu --create-home --shell /usr/sbin/nologin kehu

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /home/kehu

# console, contacts, orders, tickets, insights
EXPOSE 8000 8001 8002 8003 8004

# Liveness of whichever service runs: the port is KEHU_PORT, or else the default port of the
# service named on the command line of PID 1 (`kehu serve <service>`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; a = open('/proc/1/cmdline', 'rb').read().decode().split('\\0'); s = a[a.index('serve') + 1] if 'serve' in a[:-1] else 'contacts'; p = os.environ.get('KEHU_PORT') or {'console': 8000, 'contacts': 8001, 'orders': 8002, 'tickets': 8003, 'insights': 8004}.get(s, 8001); u.urlopen(f'http://127.0.0.1:{p}/health/live', timeout=4)"]

ENTRYPOINT ["kehu"]
CMD ["serve", "contacts"]

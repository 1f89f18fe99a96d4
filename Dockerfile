# Production image: gunicorn serving ShelfWise against DATABASE_URL.
# Mirrors the README: the same requirements.txt install, then migrate and serve.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SHELFWISE_ENV=prod \
    GUNICORN_BIND=0.0.0.0:8000

WORKDIR /app
RUN useradd --create-home --uid 10001 shelfwise

COPY requirements.txt .
RUN python -m pip install -r requirements.txt

COPY . .
# prod settings refuse to load without a strong SECRET_KEY and a DATABASE_URL; collectstatic
# uses neither, so a throwaway key and an address never connected to stand in.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DATABASE_URL=postgres://collectstatic.invalid/unused \
    python manage.py collectstatic --noinput

USER shelfwise
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn --config shelfwise/gunicorn.conf.py"]

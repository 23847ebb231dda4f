FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY connectors connectors
COPY resolver resolver
COPY store store
COPY crm crm
COPY app app
COPY bench bench
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8080
CMD ["stitch", "serve", "--host", "0.0.0.0", "--port", "8080"]

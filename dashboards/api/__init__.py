"""The HTTP API (FastAPI): ``create_app(settings)``; routers per noun in ``dashboards.api.routes``."""

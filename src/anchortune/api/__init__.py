"""The studio's HTTP face: FastAPI app factory, OpenAI-compatible routers, web pages and their assets."""

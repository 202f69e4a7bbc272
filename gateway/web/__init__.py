"""The FastAPI web layer: guard screen and JSON API. All assets are local."""

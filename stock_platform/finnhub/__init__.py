"""Finnhub: the trade websocket, the REST client and the shared call-rate limit."""

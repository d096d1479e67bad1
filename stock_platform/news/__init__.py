"""Company news: Finnhub items to rows, the poll, and which symbols and dates each poll asks for."""

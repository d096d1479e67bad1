"""Storage layer: the MarketStore interface, its SQLite and Cassandra implementations, batch writers.

Entry points: `stock_platform.storage.factory.open_store(settings)`, `stock_platform.storage.batch`
(`write_trade_batch`, `recompute_day`) and `stock_platform.storage.schema` (Cassandra schema).
"""

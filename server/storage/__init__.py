"""Storage: SQLAlchemy models and queries. Never imports crypto."""

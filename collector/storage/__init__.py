"""Storage through SQLAlchemy: engines, Alembic migrations, the group-commit writer and the
read queries behind reports and exports."""

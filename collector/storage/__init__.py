"""Storage through SQLAlchemy: engines, versioned migrations, the group-commit writer and the
read queries behind reports and exports."""

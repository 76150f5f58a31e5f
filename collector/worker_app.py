"""The app each worker process of `serve --workers N` builds: from COLLECTOR_* variables that
`serve` sets before uvicorn starts the workers (they import `app_from_environment` by name)."""

from __future__ import annotations

import os
from pathlib import Path

from collector.accounts import DEFAULT_REFRESH_INTERVAL_S
from collector.app import DEFAULT_STATUS_PATH, CollectorApp, CollectorConfig, build_app
from collector.metrics import DEFAULT_TOP_TENANTS
from collector.names import name_files_from_environment
from collector.peers import BudgetSettings
from collector.shared_metrics import multiprocess_directory
from collector.signatures import TwilioTokenSource
from collector.storage.database import DATABASE_URL_ENV, DEFAULT_DATABASE_URL
from collector.usage import TwilioUsageSource
from collector.workers import exit_with_parent

STATUS_PATH_ENV = "COLLECTOR_STATUS_PATH"
PUBLIC_URL_ENV = "COLLECTOR_PUBLIC_URL"
USAGE_ENV = "COLLECTOR_USAGE"
ALLOW_LIST_ENV = "COLLECTOR_ALLOW_LIST"
ACCOUNTS_REFRESH_ENV = "COLLECTOR_ACCOUNTS_REFRESH"
TOP_TENANTS_ENV = "COLLECTOR_METRICS_TOP_TENANTS"


def app_from_environment() -> CollectorApp:
    """The app as `serve` configures it, from COLLECTOR_* variables (uvicorn's worker
    processes import this factory by name)."""
    exit_with_parent()  # a worker of `serve --workers N` never outlives its supervisor
    # A fresh interpreter (uvicorn spawns its workers): the serving process's settings again.
    from collector.__main__ import tune_for_serving

    tune_for_serving()
    token_source = TwilioTokenSource.from_environment()
    return build_app(
        CollectorConfig(
            database_url=os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL,
            token_source=token_source,
            status_path=os.environ.get(STATUS_PATH_ENV) or DEFAULT_STATUS_PATH,
            public_url=os.environ.get(PUBLIC_URL_ENV) or None,
            usage_source=(
                TwilioUsageSource(token_source.session)
                if os.environ.get(USAGE_ENV, "1") != "0"
                else None
            ),
            names_files=tuple(name_files_from_environment()),
            allow_list=Path(os.environ[ALLOW_LIST_ENV]) if os.environ.get(ALLOW_LIST_ENV) else None,
            accounts_refresh_s=float(
                os.environ.get(ACCOUNTS_REFRESH_ENV) or DEFAULT_REFRESH_INTERVAL_S
            ),
            metrics_top_tenants=int(os.environ.get(TOP_TENANTS_ENV) or DEFAULT_TOP_TENANTS),
            refusal_budget=BudgetSettings.from_environment(),
            metrics_directory=multiprocess_directory(),
        )
    )

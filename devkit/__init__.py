"""Running the project's processes locally, for tests and benchmarks alike.

- `emulator_process`: `python -m emulator` as a subprocess (free port, temp database, health
  wait, its admin API). The emulator is started as a process and spoken to over HTTP, never
  imported: that is the boundary between it and everything else.
- `collector_process`: `python -m collector serve` as a subprocess.
- `program`: a copy of the Pulumi program (its packages, `Pulumi.yaml` pointing at this
  checkout's virtualenv and provider host) in a scratch directory.

Where it sits: tests and bench import it; the product (program, providers, collector, estate)
never does. It imports only `twilio_access` of the project.
"""

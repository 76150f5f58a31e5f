"""Production customer groups as stacks, run together through the Automation API.

`python -m fleet` (fleet/__main__.py); README "Operating at scale".
"""
